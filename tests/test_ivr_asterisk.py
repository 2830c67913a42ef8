"""The IVR flows against the sandbox: one simulated customer per path, all side by side.

The daemon's engine runs in-process with its FastAGI server on the sandbox's AGI port; each
contact is a scripted simulated human (answers from AstDB), a voicemail, or an agent's caller.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from dialer.config import EngineSettings
from dialer.domain import AttemptState, CampaignState, Disposition, Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.ivr import prerender
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Campaign, Dnc
from dialer.storage.repository import Repository
from prompts.splice import WORD
from tests.campaigns import attempts, campaign_row, contacts, make_campaign, new_database, scripted

pytestmark = pytest.mark.asterisk

PROMISE = date.today() + timedelta(days=5)
PERSON = {"name": "Ana Pérez", "amount": "12500", "due_date": "2026-11-20", "concept": "la factura de gas"}
SETTINGS = {"company": "Gas Sur", "currency": "ARS", "retries": {"max_attempts": 1},
            "transfer": {"queue": "collections", "timeout_s": 20, "callback_delay_s": 600}}  # fmt: skip


async def half_open_clients(port: int) -> None:
    """One client sends half a header and closes; one sends nothing and stays (header timeout)."""
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"agi_network: yes\nagi_network_script: collec")
    await w.drain()
    w.close()
    _r2, w2 = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(8)
    w2.close()


async def pause_when_called(url: str, campaign_id: int) -> None:
    """The fallback contact waits for its call-back: pause the campaign once it has been called."""
    while not any(a.state == AttemptState.ENDED for a in attempts(url, campaign_id)):
        await asyncio.sleep(0.5)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        s.execute(update(Campaign).where(Campaign.id == campaign_id).values(state=CampaignState.PAUSED))
    engine.dispose()


@pytest.fixture(scope="module")
def runs(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One engine run: a collections campaign (6 customers) and a survey campaign (1)."""
    tmp = tmp_path_factory.mktemp("ivr")
    url = new_database(str(tmp / "d.db"))
    who = {
        "promise": scripted(sandbox, 101, ["1", "1", PROMISE.strftime("%d%m"), "1"]),
        "agent": scripted(sandbox, 102, ["1", "2"]),
        "identity": scripted(sandbox, 103, ["2", "2", "2"]),
        "hangup": scripted(sandbox, 104, ["1"], hang_up=True),
        "machine": sim_number("machine"),
        "opt_out": scripted(sandbox, 105, ["1", "9"]),
    }
    cid = make_campaign(url, "ivr", list(who.values()), people=[PERSON] * len(who), flow="collections",
                        settings=SETTINGS, max_concurrent=10, calls_per_second=20, ring_timeout_s=10)  # fmt: skip
    survey_number = scripted(sandbox, 106, ["5#", "2"])
    sid = make_campaign(url, "survey", [survey_number], people=[PERSON], flow="survey", settings=SETTINGS)
    fallback_number = scripted(sandbox, 107, ["1", "2"])
    no_agents = {**SETTINGS, "retries": {"max_attempts": 2},
                 "transfer": {"queue": "nobody", "timeout_s": 2, "callback_delay_s": 600, "pacing": "cap"}}  # fmt: skip
    fid = make_campaign(url, "fallback", [fallback_number], people=[PERSON], flow="collections", settings=no_agents)
    repo = Repository(db.session_factory(db.make_engine(url)))
    settings = EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5)
    engine = Engine(repo, sandbox.ami, settings, IvrHost(repo.sessions, sandbox.agi))

    async def main() -> None:
        run = asyncio.ensure_future(engine.run_until_finished([cid, sid, fid], timeout=150))
        pauser = asyncio.ensure_future(pause_when_called(url, fid))
        await asyncio.sleep(1)  # the FastAGI server is up: garbage clients come first
        clients = asyncio.ensure_future(half_open_clients(sandbox.agi.port))
        await run
        await clients
        await pauser

    asyncio.run(main())
    by_number = {a.number: a for a in attempts(url, cid) + attempts(url, sid) + attempts(url, fid)}
    numbers = {**who, "survey": survey_number, "fallback": fallback_number}
    out: dict[str, object] = {name: by_number[number] for name, number in numbers.items()}
    (out["fallback_contact"],) = contacts(url, fid)
    out["url"], out["repo"], out["cid"] = url, repo, cid
    assert engine.ivr is not None and engine.ivr.server is not None
    out["rejected"], out["served"] = engine.ivr.server.rejected, engine.ivr.server.served
    out["refused"] = engine.ivr.server.refused
    return out


def _events(runs: dict[str, object], name: str) -> list[tuple[str, str, str | None]]:
    attempt = runs[name]
    return [(e.kind, e.name, e.value) for e in events_of(runs["repo"].sessions, attempt.id)]  # type: ignore[attr-defined]


def test_verified_human_promises_to_pay_and_the_date_is_read_back(runs: dict[str, object]) -> None:
    attempt = runs["promise"]
    assert attempt.outcome == Outcome.ANSWERED  # type: ignore[attr-defined]
    events = _events(runs, "promise")
    steps = [n for k, n, _ in events if k == "step"]
    assert steps == ["amd", "greeting", "identity", "message", "menu", "ptp_date", "ptp_sms", "ptp_thanks", "bye"]
    keys = [(n, v) for k, n, v in events if k == "key"]
    assert keys == [("identity", "1"), ("menu", "1"), ("ptp_date", PROMISE.strftime("%d%m")), ("ptp_date_confirm", "1")]
    (fact,) = [v for k, n, v in events if k == "fact" and n == "promise_to_pay"]
    assert json.loads(fact or "") == {"date": PROMISE.isoformat(), "amount": "12500"}


def test_human_pressing_2_reaches_an_agent(runs: dict[str, object]) -> None:
    attempt = runs["agent"]
    assert attempt.outcome == Outcome.TRANSFERRED  # type: ignore[attr-defined]
    assert attempt.details["agent_answered"] is True  # type: ignore[attr-defined]
    assert 0 <= attempt.details["queue_wait_s"] < 20  # type: ignore[attr-defined]
    assert ("step", "transfer", None) in _events(runs, "agent")


def test_three_failed_identity_tries(runs: dict[str, object]) -> None:
    assert runs["identity"].outcome == Outcome.IDENTITY_FAILED  # type: ignore[attr-defined]
    events = _events(runs, "identity")
    assert [v for k, n, v in events if k == "key"] == ["2", "2", "2"]
    assert "message" not in [n for k, n, _ in events if k == "step"]  # nothing personal was said


def test_hang_up_during_the_message_is_hung_up_early_at_that_step(runs: dict[str, object]) -> None:
    attempt = runs["hangup"]
    assert (attempt.outcome, attempt.step_reached) == (Outcome.HUNG_UP_EARLY, "message")  # type: ignore[attr-defined]


def test_machine_gets_the_message(runs: dict[str, object]) -> None:
    attempt = runs["machine"]
    assert attempt.outcome == Outcome.MACHINE  # type: ignore[attr-defined]
    assert attempt.details["message_left"] is True  # type: ignore[attr-defined]
    assert [n for k, n, _ in _events(runs, "machine") if k == "step"] == ["amd", "machine"]


def test_opt_out_goes_on_the_dnc_list_and_is_never_called_again(runs: dict[str, object]) -> None:
    attempt = runs["opt_out"]
    assert attempt.outcome == Outcome.OPTED_OUT  # type: ignore[attr-defined]
    with runs["repo"].sessions() as s:  # type: ignore[attr-defined]
        assert s.get(Dnc, attempt.number) is not None  # type: ignore[attr-defined]
    (contact,) = [c for c in contacts(runs["url"], runs["cid"]) if c.id == attempt.contact_id]  # type: ignore[arg-type,attr-defined]
    assert contact.disposition == Disposition.SUPPRESSED


def test_survey_answers_are_stored(runs: dict[str, object]) -> None:
    assert runs["survey"].outcome == Outcome.ANSWERED  # type: ignore[attr-defined]
    facts = {n: v for k, n, v in _events(runs, "survey") if k == "fact"}
    assert facts["survey.nps"] == "5" and facts["survey.reason"] == "price"


def test_half_open_fastagi_clients_do_not_stall_the_calls(runs: dict[str, object]) -> None:
    # both garbage clients were dropped (one closed mid-header, one silent past the header
    # timeout) while the 8 calls above ran their flows to the end on the same event loop
    assert runs["rejected"] == 2
    assert runs["served"] == 8


def test_every_call_ran_its_flow_with_its_own_token(runs: dict[str, object]) -> None:
    # the daemon believed Asterisk's 8 sessions (token, live attempt, Uniqueid = attempt id) and no other
    assert (runs["served"], runs["refused"]) == (8, 0)
    hashes = [runs[name].agi_token_hash for name in ("promise", "agent", "identity", "hangup", "machine",  # type: ignore[attr-defined]
                                                     "opt_out", "survey", "fallback")]  # fmt: skip
    assert len(set(hashes)) == 8 and all(len(h) == 64 for h in hashes)  # a hash each, never the token


def test_no_agent_in_time_plays_the_fallback_and_schedules_a_call_back(runs: dict[str, object]) -> None:
    attempt = runs["fallback"]
    assert attempt.outcome == Outcome.TRANSFERRED  # type: ignore[attr-defined]
    assert attempt.details["agent_answered"] is False and attempt.details["callback_after_s"] == 600  # type: ignore[attr-defined]
    assert 1.5 <= attempt.details["queue_wait_s"] < 10  # type: ignore[attr-defined]
    contact = runs["fallback_contact"]
    assert contact.disposition == Disposition.PENDING  # type: ignore[attr-defined]
    wait = (contact.next_attempt_at - attempt.ended_at).total_seconds()  # type: ignore[attr-defined]
    assert 599 <= wait <= 601
    assert [n for k, n, _ in _events(runs, "fallback") if k == "step"][-2:] == ["transfer", "bye"]


async def test_a_campaign_started_with_nothing_rendered_dials_and_plays_its_personal_sentence(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    person = {**PERSON, "name": f"Zósimo {uuid.uuid4().int % 10**6}"}  # a sentence no other run has rendered
    number = scripted(sandbox, 121, ["1", "9"])  # verified, hears the debt, opts out
    cid = make_campaign(url, "unrendered", [number], people=[person], flow="collections",
                        settings=SETTINGS, render=False)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    campaign = campaign_row(url, cid)
    book, (contact,) = prerender.book_for(campaign), contacts(url, cid)
    personal = [job.render_text for job in book.contact_jobs("C0", contact.name, contact.fields)]
    personal = [text for text in personal if person["name"] in text.replace(WORD, " ")]  # only this contact's
    assert personal and all(book.lookup_text(text) is None for text in personal)
    ivr = IvrHost(repo.sessions, sandbox.agi)
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2), ivr)
    await engine.run_until_finished([cid], timeout=90)
    (attempt,) = attempts(url, cid)
    assert campaign_row(url, cid).state != CampaignState.PAUSED
    assert attempt.outcome == Outcome.OPTED_OUT, attempt.reason
    steps = [e.name for e in events_of(repo.sessions, attempt.id) if e.kind == "step"]
    assert steps[:5] == ["amd", "greeting", "identity", "message", "menu"]  # the debt sentence was played
    assert ivr.audio.prepared == 1 and len(ivr.audio.waits) == 1 and ivr.audio.waits[0] < 30
    # settled (opted out): its personal files are gone at the drain's sweep, the shared ones stay
    assert contacts(url, cid)[0].disposition != Disposition.PENDING
    assert all(book.lookup_text(text) is None for text in personal)
    assert ivr.audio.ledger.shared and all(Path(path).exists() for path in ivr.audio.ledger.shared)

