"""SMS from the IVR and from call results, against the sandbox Asterisk and the SMPP SMSC (tests/smsc.py),
both real, side by side in one run: the engine calls a collections campaign with an [sms] table while
the SMS service sends what the endings queued.

- a scripted customer promises to pay: the flow's `sms` step asks for the confirmation (date, amount,
  payment link), the ending queues it and the SMSC's delivery report marks it delivered;
- a machine, and a number nobody answers on its last attempt, each get the [sms.on_result] text;
- an SMS-only campaign running in the same daemon is never dialled: its contacts get texts and it
  finishes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from dialer.config import EngineSettings
from dialer.domain import CampaignState, Outcome, SmsState
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.sms.on_ending import texts_after_ending
from dialer.sms.producers import sms_campaigns
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.sms_models import Sms
from dialer.storage.repository import Repository
from tests.campaigns import attempts, campaign_row, make_campaign, new_database, scripted
from tests.sms_parts import smpp_smsc

pytestmark = [pytest.mark.asterisk, pytest.mark.sms]

PROMISE = date.today() + timedelta(days=4)
PERSON = {"name": "Ana Pérez", "amount": "12500", "due_date": "2026-11-20", "concept": "la factura de gas"}
SMS = {"sender": "GasSur", "payment_link": "https://pay.example/{external_id}?a={amount}",
       "on_result": {"machine": "missed_call", "no_contact": "missed_call"}}  # fmt: skip


@pytest.fixture(scope="module")
def run(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("sms-ivr")
    url = new_database(str(tmp / "d.db"))
    who = {"promise": scripted(sandbox, 121, ["1", "1", PROMISE.strftime("%d%m"), "1"]),
           "machine": sim_number("machine", tag=2), "nobody": sim_number("no_answer", tag=3)}  # fmt: skip
    cid = make_campaign(url, "sms-ivr", list(who.values()), people=[PERSON] * 3, flow="collections",
                        settings={"company": "Gas Sur", "retries": {"max_attempts": 1}, "sms": SMS},
                        max_concurrent=5, calls_per_second=10, ring_timeout_s=4)  # fmt: skip
    only_numbers = [sim_number("human", answers=["1"], tag=4), sim_number("busy", tag=5)]
    only = make_campaign(url, "sms-only", only_numbers, people=[PERSON] * 2, flow="collections",
                         settings={"company": "Gas Sur", "sms": {**SMS, "only": True, "text": "reminder"}},
                         calls_per_second=10)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)), ending_hooks=(texts_after_ending,))
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5),
                    IvrHost(repo.sessions, sandbox.agi))  # fmt: skip

    def texts() -> list[Sms]:
        with repo.sessions() as s:
            return list(s.scalars(select(Sms).order_by(Sms.id)))

    with smpp_smsc(tmp, {}) as smsc:
        gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50"))

        async def main() -> None:
            async with SmsService(repo.sessions, gateway, poll_s=0.2, producers=[sms_campaigns]):
                await engine.run_until_finished([cid, only], timeout=120)
                for _ in range(150):  # the receipts of the last texts
                    found = texts()
                    if len(found) == 5 and all(m.state == SmsState.DELIVERED for m in found):
                        break
                    await asyncio.sleep(0.2)

        asyncio.run(main())
        parts = smsc.parts()
    by_number = {a.number: a for a in attempts(url, cid)}
    return {"who": who, "attempts": by_number, "texts": {m.number: m for m in texts()}, "parts": parts,
            "repo": repo, "only": only, "only_numbers": only_numbers, "only_attempts": attempts(url, only),
            "only_state": campaign_row(url, only).state}  # fmt: skip


def test_a_promise_sends_its_confirmation_and_the_delivery_report_lands(run: dict[str, object]) -> None:
    number = run["who"]["promise"]  # type: ignore[index]
    attempt = run["attempts"][number]  # type: ignore[index]
    assert attempt.outcome == Outcome.ANSWERED
    message = run["texts"][number]  # type: ignore[index]
    assert (message.kind, message.template, message.attempt_id) == ("ivr", "ptp_confirmation", attempt.id)
    assert f"{PROMISE:%d/%m/%Y}" in message.text and "12.500,00 EUR" in message.text
    assert "https://pay.example/C0?a=12500" in message.text
    assert message.state == SmsState.DELIVERED and message.smsc_id
    parts = [p for p in run["parts"] if p["to"] == number.lstrip("+")]  # type: ignore[attr-defined]
    parts.sort(key=lambda p: int(p["udh"][-2:] or "0", 16))  # parts may arrive in any order: a phone joins them by UDH
    sent = "".join(p["text"] for p in parts)
    assert sent == message.text
    steps = [e.name for e in events_of(run["repo"].sessions, attempt.id) if e.kind == "step"]  # type: ignore[attr-defined]
    assert steps.index("ptp_date") < steps.index("ptp_sms") < steps.index("ptp_thanks")
    (fact,) = [e.value for e in events_of(run["repo"].sessions, attempt.id) if e.name == "sms"]  # type: ignore[attr-defined]
    assert json.loads(fact or "{}")["promise_date"] == PROMISE.isoformat()


def test_a_machine_and_a_contact_never_reached_get_the_result_text(run: dict[str, object]) -> None:
    for name, outcome in (("machine", Outcome.MACHINE), ("nobody", None)):
        number = run["who"][name]  # type: ignore[index]
        attempt = run["attempts"][number]  # type: ignore[index]
        assert attempt.outcome == outcome, name
        message = run["texts"][number]  # type: ignore[index]
        assert (message.kind, message.template, message.state) == ("result", "missed_call", SmsState.DELIVERED), name
        assert "intentamos comunicarnos" in message.text


def test_an_sms_only_campaign_beside_the_calls_is_texted_and_never_dialled(run: dict[str, object]) -> None:
    assert run["only_attempts"] == [] and run["only_state"] == CampaignState.FINISHED
    for number in run["only_numbers"]:  # type: ignore[attr-defined]
        message = run["texts"][number]  # type: ignore[index]
        assert (message.kind, message.template, message.state) == ("campaign", "reminder", SmsState.DELIVERED)
