"""A real SIP carrier: every scenario of the SIPp carrier, dialled through the sandbox's PJSIP
trunk in one engine run, side by side, gives its dial result (or outcome) and its SIP code.

One campaign dials every scenario with the tests' SIP flow (a person hears one prompt; a
voicemail gets the machine message after its beep); a second one runs a person through
identity (RFC 2833 digits), the message and a menu key.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from dialer.config import EngineSettings
from dialer.domain import AttemptState, DialResult, Disposition, Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.sandbox.carrier import Carrier, carrier_number
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Attempt
from dialer.storage.repository import Repository
from tests.campaigns import attempts, contacts, make_campaign, new_database

pytestmark = [pytest.mark.asterisk, pytest.mark.sip]

TRUNK = "PJSIP/{number}@carrier"
FLOWS = Path(__file__).resolve().parent / "flows"
# scenario -> (dial result, SIP code stored, words the reason holds). After a special information
# tone the call is hung up in early media; TONE_DETECT's jump moves the channel, and Asterisk's
# per-technology cause (the SIP code) does not move with it: no code is stored.
DIAL_RESULTS: dict[str, tuple[DialResult, int | None, str]] = {
    "486": (DialResult.BUSY, 486, "SIP 486 Busy Here"),
    "600": (DialResult.BUSY, 600, "SIP 600 Busy Everywhere"),
    "603": (DialResult.BUSY, 603, "SIP 603 Decline"),
    "404": (DialResult.INVALID_NUMBER, 404, "SIP 404 Not Found"),
    "484": (DialResult.INVALID_NUMBER, 484, "SIP 484 Address Incomplete"),
    "410": (DialResult.INVALID_NUMBER, 410, "SIP 410 Gone"),
    "480": (DialResult.NO_ANSWER, 480, "SIP 480 Temporarily Unavailable"),
    "408": (DialResult.NO_ANSWER, 408, "SIP 408 Request Timeout"),
    "no_answer": (DialResult.NO_ANSWER, 180, "SIP 180 Ringing"),  # we cancelled at the ring timeout
    "500": (DialResult.CONGESTION, 500, "SIP 500 Server Internal Error"),
    "502": (DialResult.CONGESTION, 502, "SIP 502 Bad Gateway"),
    "503": (DialResult.CONGESTION, 503, "carrier overload (SIP 503 Service Unavailable"),
    "503_retry_after": (DialResult.CONGESTION, 503, "carrier overload (SIP 503 Service Unavailable"),
    "504": (DialResult.CONGESTION, 504, "SIP 504 Server Time-out"),
    "403": (DialResult.FAILED, 403, "SIP 403 Forbidden"),
    "488": (DialResult.FAILED, 488, "SIP 488 Not Acceptable Here"),  # no common codec: no retry helps
    "604": (DialResult.INVALID_NUMBER, 604, "SIP 604 Does Not Exist Anywhere"),
    "sit_404": (DialResult.INVALID_NUMBER, None, "special information tone in early media"),
    "sit_quiet": (DialResult.INVALID_NUMBER, None, "special information tone in early media"),
    "announce_486": (DialResult.BUSY, 486, "SIP 486 Busy Here"),  # early media without the tone
    "auth_refused": (DialResult.FAILED, 401, "SIP 401 Unauthorized"),  # the trunk's credentials refused
    "proxy_auth_refused": (DialResult.FAILED, 407, "SIP 407 Proxy Authentication Required"),  # by its proxy
    "485": (DialResult.INVALID_NUMBER, 485, "SIP 485 Ambiguous"),
}
NUMBERS = {
    **{name: carrier_number(int(name)) for name in DIAL_RESULTS if name.isdigit()},
    "no_answer": carrier_number("no_answer"),
    "503_retry_after": carrier_number(503, arg=5),
    "sit_404": carrier_number("sit_404"),
    "sit_quiet": carrier_number("sit_quiet"),
    "announce_486": carrier_number("announce_486"),
    "auth_refused": carrier_number("auth", arg=1),
    "auth": carrier_number("auth"),  # challenged (digest), answered with credentials: a person
    "proxy_auth": carrier_number("auth", arg=2),  # the same through a proxy's challenge (407)
    "proxy_auth_refused": carrier_number("auth", arg=3),
    "human": carrier_number("human"),
    "human_es": carrier_number("human", arg=1),
    "answer_bye": carrier_number("answer_bye"),
    "machine": carrier_number("machine"),
    "machine_no_beep": carrier_number("machine_no_beep"),
}
PERSON = {"name": "Ana", "doc": "X-551234"}
SHORT_PROMPTS = {"en": {"identity_question": "If you are {name}, press one.",
                        "notify_message": "You have a payment due.", "notify_repeat": "Press one to confirm."}}  # fmt: skip


@pytest.fixture(scope="module")
def sip_run(sandbox: Sandbox, carrier: Carrier, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One engine run: every scenario (flow sip.toml) and a person keying through sip_ivr.toml."""
    import asyncio

    url = new_database(str(tmp_path_factory.mktemp("sip") / "d.db"))
    base = {"company": "Test", "retries": {"max_attempts": 1}}
    cid = make_campaign(url, "carrier", list(NUMBERS.values()), people=[PERSON] * len(NUMBERS), flow="sip",
                        language="en", trunk_template=TRUNK, max_concurrent=30, calls_per_second=20,
                        settings={**base, "flow_file": str(FLOWS / "sip.toml")})  # fmt: skip
    ivr_number = carrier_number("human_keys")
    ivr_cid = make_campaign(url, "carrier-ivr", [ivr_number], people=[PERSON], flow="sip-ivr", language="en",
                            trunk_template=TRUNK, ring_timeout_s=10,
                            settings={**base, "flow_file": str(FLOWS / "sip_ivr.toml"), "prompts": SHORT_PROMPTS})  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    settings = EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5)
    engine = Engine(repo, sandbox.ami, settings, IvrHost(repo.sessions, sandbox.agi))
    asyncio.run(engine.run_until_finished([cid, ivr_cid], timeout=150))
    by_number = {a.number: a for a in attempts(url, cid) + attempts(url, ivr_cid)}
    out: dict[str, object] = {name: by_number[number] for name, number in NUMBERS.items()}
    out["ivr"] = by_number[ivr_number]
    out["repo"], out["url"], out["cid"] = repo, url, cid
    return out


def _events(run: dict[str, object], name: str) -> list[tuple[str, str, str | None]]:
    attempt = run[name]
    assert isinstance(attempt, Attempt)
    return [(e.kind, e.name, e.value) for e in events_of(run["repo"].sessions, attempt.id)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("scenario", list(DIAL_RESULTS))
def test_every_refusal_gives_its_dial_result_and_sip_code(sip_run: dict[str, object], scenario: str) -> None:
    result, code, words = DIAL_RESULTS[scenario]
    attempt = sip_run[scenario]
    assert isinstance(attempt, Attempt)
    assert (attempt.state, attempt.dial_result, attempt.outcome) == (AttemptState.ENDED, result, None), attempt.reason
    assert attempt.sip_code == code
    assert attempt.reason is not None and words in attempt.reason


def test_a_person_answers_hears_the_prompt_and_the_call_completes(sip_run: dict[str, object]) -> None:
    for name in ("human", "human_es", "auth", "proxy_auth"):  # through the carrier's digest challenges (401, 407)
        attempt = sip_run[name]
        assert isinstance(attempt, Attempt)
        assert (attempt.outcome, attempt.sip_code) == (Outcome.ANSWERED, 200), attempt.reason
        assert ("fact", "amd", "HUMAN") in _events(sip_run, name)


def test_answer_then_immediate_bye_is_hung_up_early_at_amd(sip_run: dict[str, object]) -> None:
    attempt = sip_run["answer_bye"]
    assert isinstance(attempt, Attempt)
    assert (attempt.outcome, attempt.step_reached, attempt.sip_code) == (Outcome.HUNG_UP_EARLY, "amd", 200)


def test_a_voicemail_gets_the_message_after_its_beep(sip_run: dict[str, object]) -> None:
    attempt = sip_run["machine"]
    assert isinstance(attempt, Attempt)
    assert attempt.outcome == Outcome.MACHINE
    assert attempt.details == {"message_left": True, "message_after": "beep"} | {
        k: v for k, v in attempt.details.items() if k not in ("message_left", "message_after")}  # fmt: skip
    assert ("fact", "voicemail", "beep 1000 Hz") in _events(sip_run, "machine")


def test_a_voicemail_without_beep_gets_the_message_after_the_greeting(sip_run: dict[str, object]) -> None:
    attempt = sip_run["machine_no_beep"]
    assert isinstance(attempt, Attempt)
    assert attempt.outcome == Outcome.MACHINE
    assert (attempt.details["message_left"], attempt.details["message_after"]) == (True, "silence")
    assert ("fact", "voicemail", "silence") in _events(sip_run, "machine_no_beep")


def test_a_person_passes_identity_with_rfc2833_digits_hears_the_message_and_picks_a_key(
    sip_run: dict[str, object],
) -> None:
    attempt = sip_run["ivr"]
    assert isinstance(attempt, Attempt)
    assert attempt.outcome == Outcome.ANSWERED, (attempt.reason, _events(sip_run, "ivr"))
    events = _events(sip_run, "ivr")
    keys = [(n, v) for k, n, v in events if k == "key"]
    assert keys == [("identity", "1"), ("identity", "****"), ("menu", "1")]  # digits are stored masked
    assert ("fact", "identity", "passed") in events
    steps = [n for k, n, _ in events if k == "step"]
    assert steps == ["amd", "identity", "message", "menu", "confirmed"]


def test_invalid_numbers_leave_their_contacts_exhausted(sip_run: dict[str, object]) -> None:
    url, cid = sip_run["url"], sip_run["cid"]
    by_id = {c.id: c for c in contacts(url, cid)}  # type: ignore[arg-type]
    for name in ("404", "sit_404"):
        attempt = sip_run[name]
        assert isinstance(attempt, Attempt)
        assert by_id[attempt.contact_id].disposition == Disposition.EXHAUSTED


def test_export_and_report_show_the_sip_codes(sip_run: dict[str, object], tmp_path: Path) -> None:
    url = str(sip_run["url"])
    out = tmp_path / "attempts.csv"
    assert CliRunner().invoke(app, ["export", "carrier", "--out", str(out), "--url", url]).exit_code == 0
    rows = {r["number"].lstrip("'"): r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows[NUMBERS["486"]]["sip_code"] == "486" and rows[NUMBERS["486"]]["dial_result"] == "busy"
    assert rows[NUMBERS["human"]]["sip_code"] == "200"
    report = CliRunner().invoke(app, ["report", "carrier", "--format", "csv", "--url", url])
    assert report.exit_code == 0
    sip = {name: int(value) for section, name, value in csv.reader(io.StringIO(report.output)) if section == "sip_code"}
    assert sip["503"] == 2 and sip["486"] == 2 and sip["200"] == 7  # 486 and the announcement; 7 answered
    assert sip["401"] == 1
    table = CliRunner().invoke(app, ["report", "carrier", "--url", url])
    assert "SIP responses" in table.output
