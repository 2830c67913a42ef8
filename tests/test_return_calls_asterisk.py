"""Return calls against the sandbox Asterisk: simulated customers call the dialer-inbound context
with a contact's number as caller ID, side by side, while the daemon (engine, FastAGI, SMS service
with the SMPP test SMSC) runs:

- one who missed a call returns it, hears who called and why, passes identity and promises to pay;
- one unknown caller hears the message and is sent to the queue (a simulated agent answers);
- one hangs up during the message and receives the SMS with the number to call and the reference;
- a session that reaches the `return` path without a token is refused.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli import app
from dialer.ami import AmiClient
from dialer.config import EngineSettings
from dialer.domain import AttemptState, CampaignState, DialResult, Direction, Outcome, ReturnMatch, SmsState
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.ivr.trust import new_token
from dialer.reports.campaign_report import build_report
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.sms.on_ending import texts_after_ending
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Attempt, Campaign, Contact, Promise
from dialer.storage.promises import promise_after_ending
from dialer.storage.repository import Repository
from dialer.storage.return_call_models import ReturnCall
from dialer.storage.sms_models import Sms
from tests.campaigns import make_campaign, new_database, scripted
from tests.sms_parts import smpp_smsc

pytestmark = [pytest.mark.inbound, pytest.mark.asterisk, pytest.mark.sms]

DID = "+34910000001"
PROMISE = date.today() + timedelta(days=4)
PERSON = {"name": "Ana Pérez", "amount": "12500", "due_date": "2026-12-20", "concept": "la factura del agua"}
SETTINGS = {"company": "Aguas del Sur", "retries": {"max_attempts": 1}, "return_calls": {"reason": "su factura"},
            "sms": {"sender": "AguasSur", "payment_link": "https://pay.example/{external_id}"},
            "promise": {"grace_days": 2}}  # fmt: skip


def _missed_call(repo: Repository, campaign_id: int, number: str) -> None:
    """The call the person returns: placed an hour ago, nobody answered."""
    with repo.sessions.begin() as s:
        for contact in s.scalars(select(Contact).where(Contact.campaign_id == campaign_id,
                                                       Contact.phones.any(number=number))):  # fmt: skip
            at = datetime.now(UTC) - timedelta(hours=1)
            s.add(Attempt(id=str(uuid.uuid4()), campaign_id=campaign_id, contact_id=contact.id,
                          phone_id=contact.phones[0].id, number=number, state=AttemptState.ENDED, created_at=at,
                          ended_at=at, dial_result=DialResult.NO_ANSWER, reason="no answer"))  # fmt: skip
            contact.attempts = 1


async def _call_in(ami: AmiClient, number: str) -> None:
    """A simulated customer (its behaviour from its number) dials the DID with its number as caller ID."""
    await ami.originate(channel=f"Local/{number}@sim-customers", context="dialer-inbound", exten=DID,
                        channel_id=str(uuid.uuid4()), caller_id=f'"" <{number}>', timeout_ms=10000)  # fmt: skip


async def _forged(ami: AmiClient, sandbox: Sandbox) -> None:
    """A channel outside dialer-inbound that runs AGI on the `return` path with a token of its own."""
    await ami.originate(channel="Local/s@sim-test-agi-caller", context="sim-test-agi", channel_id=str(uuid.uuid4()),
                        caller_id=f'"" <{sim_number("human", tag=205)}>',
                        variables={"AGIURL": f"{sandbox.agi.url}/return", "HOLD": "1",
                                   "DIALER_TOKEN": new_token()})  # fmt: skip


@pytest.fixture(scope="module")
def run(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("return-calls")
    url = new_database(str(tmp / "d.db"))
    who = {"promise": scripted(sandbox, 201, ["1", "1", PROMISE.strftime("%d%m"), "1"]),
           "cut": scripted(sandbox, 202, [], hang_up=True),
           "unknown": sim_number("human", tag=203), "shared": sim_number("human", tag=204)}  # fmt: skip
    cid = make_campaign(url, "aguas", [who["promise"], who["cut"], who["shared"], who["shared"]],
                        people=[PERSON, {**PERSON, "name": "Luis Gil"}, {**PERSON, "name": "Eva Ruiz"},
                                {**PERSON, "name": "Juan Ruiz"}],
                        flow="collections", settings=SETTINGS, caller_id=DID)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)), ending_hooks=(promise_after_ending, texts_after_ending))
    with repo.sessions.begin() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        campaign.state = CampaignState.PAUSED  # nothing is dialled: the people call in
    for name in ("promise", "cut", "shared"):
        _missed_call(repo, cid, who[name])
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5),
                    IvrHost(repo.sessions, sandbox.agi))  # fmt: skip

    def ended() -> list[ReturnCall]:
        with repo.sessions() as s:
            return list(s.scalars(select(ReturnCall).where(ReturnCall.ended_at.is_not(None))))

    def texts() -> list[Sms]:
        with repo.sessions() as s:
            return list(s.scalars(select(Sms)))

    refused: list[object] = []
    with smpp_smsc(tmp, {}) as smsc:
        gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50"))

        async def main() -> None:
            stop = asyncio.Event()
            async with SmsService(repo.sessions, gateway, poll_s=0.2):
                daemon = asyncio.create_task(engine.run(stop))
                await asyncio.sleep(1.0)
                async with AmiClient(sandbox.ami) as ami:
                    with ami.events(["UserEvent"]) as events:
                        await asyncio.gather(*(_call_in(ami, number) for number in who.values()), _forged(ami, sandbox))
                        forged = await events.wait_for(lambda e: e.get("UserEvent") == "SimAgi", 30)
                for _ in range(600):  # at most 2 minutes for the four calls and the text's receipt
                    sent = [m for m in texts() if m.state == SmsState.DELIVERED]
                    if len(ended()) == 4 and sent:
                        break
                    await asyncio.sleep(0.2)
                refused.append(engine.ivr.server.refused if engine.ivr and engine.ivr.server else -1)
                refused.append(str(forged.get("Status")))
                stop.set()
                await asyncio.wait_for(daemon, 60)

        asyncio.run(main())
        parts = smsc.parts()
    with repo.sessions() as s:
        calls = {r.number: r for r in s.scalars(select(ReturnCall))}
        inbound = {a.number: a for a in s.scalars(select(Attempt).where(Attempt.direction == Direction.INBOUND))}
        promises = list(s.scalars(select(Promise)))
        report = build_report(s, s.get(Campaign, cid))
    return {"who": who, "calls": calls, "inbound": inbound, "texts": texts(), "parts": parts, "repo": repo,
            "promises": promises, "report": report, "cid": cid, "url": url, "refused": refused}  # fmt: skip


def test_a_missed_call_returned_passes_identity_and_promises_to_pay(run: dict[str, object]) -> None:
    number = run["who"]["promise"]  # type: ignore[index]
    call = run["calls"][number]  # type: ignore[index]
    attempt = run["inbound"][number]  # type: ignore[index]
    assert (call.match, call.attempt_id, call.outcome) == (ReturnMatch.IDENTIFIED, attempt.id, Outcome.ANSWERED)
    assert (attempt.campaign_id, attempt.state, attempt.outcome) == (run["cid"], AttemptState.ENDED, Outcome.ANSWERED)
    events = events_of(run["repo"].sessions, attempt.id)  # type: ignore[attr-defined]
    steps = [e.name for e in events if e.kind == "step"]
    assert steps[:3] == ["return_greeting", "identity", "message"]  # nothing personal before identity
    assert steps.index("ptp_date") < steps.index("ptp_thanks")
    (fact,) = [e.value for e in events if e.name == "promise_to_pay"]
    assert json.loads(fact or "{}")["date"] == PROMISE.isoformat()
    (promise,) = [p for p in run["promises"] if p.attempt_id == attempt.id]  # type: ignore[attr-defined]
    assert promise.promised_date == PROMISE


def test_an_unknown_caller_hears_the_message_and_goes_to_the_queue(run: dict[str, object]) -> None:
    number = run["who"]["unknown"]  # type: ignore[index]
    call = run["calls"][number]  # type: ignore[index]
    assert (call.match, call.attempt_id, call.contact_id) == (ReturnMatch.UNKNOWN, None, None)
    assert call.outcome == Outcome.TRANSFERRED and call.details.get("agent_answered")
    assert call.campaign_id == run["cid"] and number not in run["inbound"]  # type: ignore[operator]


def test_a_caller_who_hangs_up_during_the_message_gets_the_sms(run: dict[str, object]) -> None:
    number = run["who"]["cut"]  # type: ignore[index]
    attempt = run["inbound"][number]  # type: ignore[index]
    assert attempt.outcome == Outcome.HUNG_UP_EARLY
    (message,) = [m for m in run["texts"] if m.number == number]  # type: ignore[attr-defined]
    assert (message.template, message.attempt_id, message.state) == ("return_call_cut", attempt.id,
                                                                    SmsState.DELIVERED)  # fmt: skip
    assert DID in message.text and "C1" in message.text
    sent = "".join(p["text"] for p in run["parts"] if p["to"] == number.lstrip("+"))  # type: ignore[attr-defined]
    assert sent == message.text


def test_a_number_two_people_share_goes_to_the_queue_as_shared(run: dict[str, object]) -> None:
    number = run["who"]["shared"]  # type: ignore[index]
    call = run["calls"][number]  # type: ignore[index]
    assert (call.match, call.candidates, call.attempt_id, call.contact_id) == (ReturnMatch.SHARED, 2, None, None)
    assert call.outcome == Outcome.TRANSFERRED and call.campaign_id == run["cid"]


def test_a_forged_return_session_is_refused_and_records_nothing(run: dict[str, object]) -> None:
    refused, status = run["refused"]  # type: ignore[misc]
    assert refused == 1 and status == "SUCCESS"  # AGI() returned: the server closed the session
    assert len(run["calls"]) == 4  # type: ignore[arg-type]  # the four real callers only


def test_the_report_counts_return_calls(run: dict[str, object]) -> None:
    returns = run["report"].return_calls  # type: ignore[attr-defined]
    assert (returns["count"], returns["identified"], returns["unknown"], returns["shared"]) == (4, 2, 1, 1)
    assert returns["outcomes"] == {"answered": 1, "hung_up_early": 1, "transferred": 2}
    assert run["report"].attempts == 4  # the missed calls; the return calls are not calls placed  # type: ignore[attr-defined]


def test_dialer_report_and_explain_show_return_calls(run: dict[str, object]) -> None:
    url = str(run["url"])
    shown = CliRunner().invoke(app, ["report", "aguas", "--url", url], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "return calls" in shown.output and "2 identified, 1 unknown, 1 shared" in shown.output
    told = CliRunner().invoke(app, ["explain", "C0", "--campaign", "aguas", "--url", url], terminal_width=200)
    assert told.exit_code == 0, told.output
    assert "return calls: 1" in told.output and "answered" in told.output
    assert "1 attempts" in told.output  # the missed call; the return call is not a call placed
