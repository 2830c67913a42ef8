"""SMS over SMPP against a real SMSC process (tests/smsc.py, smpp34), started and stopped by pid.

One daemon-side SmsService (aiosmpplib transceiver bind) sends texts to numbers whose SMSC rules
differ, side by side: a Polish text goes out UCS-2 in the parts the segment counter says and is
delivered; a failed receipt is retried and then delivered; a number that always fails ends
failed with the SMSC's error code; a throttled submit is retried; a BAJA reply puts the number
on the SMS opt-outs and the DNC list, and the next voice claim skips it; a text outside its
window is not sent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dialer.domain import Disposition, SmsState
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.sms.text import split
from dialer.sms.outbox import queue_text
from dialer.storage import db
from dialer.storage.webhook_models import WebhookDelivery
from dialer.storage.webhook_store import WebhookStore
from dialer.storage.models import Campaign, Contact, Dnc
from dialer.storage.sms_models import Sms, SmsOptOut, SmsReply
from dialer.storage.repository import Repository
from tests.campaigns import contacts, make_campaign, new_database
from tests.sms_parts import smpp_smsc, texts_by_number

pytestmark = pytest.mark.sms

N = {name: f"+3460000{i:04d}" for i, name in enumerate(["polish", "fail_once", "fail", "baja", "throttle", "closed", "expire"], 101)}
PERSON = {"name": "Zofia Łęcka", "amount": "1250.50", "due_date": "2026-12-20", "concept": "gaz"}
SMS = {"sender": "GazPL", "cost_per_segment": 0.04, "payment_link": "https://pay.example/{external_id}",
       "retries": {"max_tries": 2, "delay_s": 0.2}, "opt_out_voice": True}  # fmt: skip


def _closed_today() -> dict[str, str]:
    """A window open only on a weekday that is not today (nor tomorrow, in any zone)."""
    day = (datetime.now(UTC).weekday() + 3) % 7
    return {("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day]: "10:00-12:00"}


def _queue(url: str, campaign_id: int, template: str) -> None:
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        campaign = s.get(Campaign, campaign_id)
        for contact in s.scalars(select(Contact).where(Contact.campaign_id == campaign_id)):
            queue_text(s, campaign, contact, contact.phones[0].number, template, kind="campaign",
                       dedupe=f"test:{contact.id}")  # fmt: skip
    engine.dispose()


def _messages(url: str) -> dict[str, Sms]:
    return texts_by_number(url)


async def _until(check, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("smpp")
    url = new_database(str(tmp / "d.db"))
    numbers = [N[k] for k in ("polish", "fail_once", "fail", "baja")]
    cid = make_campaign(url, "sms-pl", numbers, people=[PERSON] * 4, render=False, flow="notify", language="pl",
                        default_region="PL", settings={"company": "Gaz", "sms": SMS})  # fmt: skip
    closed = make_campaign(url, "sms-closed", [N["closed"]], people=[PERSON], render=False, flow="notify",
                           settings={"company": "Gaz", "sms": {**SMS, "windows": _closed_today()}})  # fmt: skip
    voice = make_campaign(url, "voice", [N["baja"], "+34611141234"], render=False, flow="notify",
                          settings={"retries": {"max_attempts": 1}})  # fmt: skip
    short = {**SMS, "templates": {"es": {"balance": "{company}: saldo {amount}"}}}  # one part: one submit_sm
    throttled = make_campaign(url, "sms-short", [N["throttle"]], people=[PERSON], render=False, flow="notify",
                              settings={"company": "Gas", "sms": short})  # fmt: skip
    expiring = make_campaign(url, "sms-expire", [N["expire"]], people=[PERSON], render=False, flow="notify",
                             settings={"company": "Gas", "sms": short})  # fmt: skip
    _queue(url, cid, "notice")
    _queue(url, throttled, "balance")
    _queue(url, expiring, "balance")
    _queue(url, closed, "notice")
    hooks = db.make_engine(url)  # a CRM subscribed to every campaign: the SMS events go to the outbox
    WebhookStore(db.session_factory(hooks)).add("https://crm.example/hooks", "s3cret-s3cret-s3cret", [], None,
                                                datetime.now(UTC))  # fmt: skip
    hooks.dispose()
    rules = {N["fail_once"][1:]: "fail-once", N["fail"][1:]: "fail", N["baja"][1:]: "reply:Bája.",
             N["throttle"][1:]: "throttle-once", N["expire"][1:]: "expire"}  # fmt: skip
    with smpp_smsc(tmp, rules) as smsc:
        gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50&window=4"))
        sessions = db.session_factory(db.make_engine(url))
        finals = {SmsState.DELIVERED, SmsState.FAILED, SmsState.EXPIRED}

        async def main() -> None:
            async with SmsService(sessions, gateway, poll_s=0.1):
                await _until(lambda: all(m.state in finals for n, m in _messages(url).items() if n != N["closed"]))
                await _until(lambda: bool(SmsReply and _replies(url)))
                await asyncio.sleep(0.5)  # the closed-window text must still be waiting

        asyncio.run(main())
        parts = smsc.parts()
    repo = Repository(db.session_factory(db.make_engine(url)))
    plans = repo.claim(voice, 10)
    return {"url": url, "messages": _messages(url), "parts": parts, "plans": plans, "voice": voice}


def _replies(url: str) -> list[SmsReply]:
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        found = list(s.scalars(select(SmsReply)))
    engine.dispose()
    return found


def test_polish_text_goes_out_ucs2_in_the_counted_parts_and_is_delivered(run: dict[str, object]) -> None:
    message = run["messages"][N["polish"]]  # type: ignore[index]
    expected = split(message.text)
    assert (message.encoding, message.segments) == ("ucs2", expected.segments) and expected.segments >= 2
    sent = [p for p in run["parts"] if p["to"] == N["polish"][1:]]  # type: ignore[attr-defined]
    assert [p["data_coding"] for p in sent] == [8] * expected.segments
    assert [p["udh"][-4:] for p in sent] == [f"{expected.segments:02x}{i:02x}" for i in range(1, expected.segments + 1)]
    assert "".join(p["text"] for p in sent) == message.text
    assert "Łęcka" not in message.text and "1 250,50 PLN" in message.text and "pay.example/C0" in message.text
    assert message.state == SmsState.DELIVERED and message.smsc_id and message.tries == 1
    assert message.cost == pytest.approx(0.04 * expected.segments)


def test_a_failed_receipt_is_retried_and_then_delivered(run: dict[str, object]) -> None:
    message = run["messages"][N["fail_once"]]  # type: ignore[index]
    assert (message.state, message.tries) == (SmsState.DELIVERED, 2)
    assert len([p for p in run["parts"] if p["to"] == N["fail_once"][1:]]) == 2 * message.segments  # type: ignore[attr-defined]


def test_a_number_that_always_fails_ends_failed_with_the_smsc_error(run: dict[str, object]) -> None:
    message = run["messages"][N["fail"]]  # type: ignore[index]
    assert (message.state, message.tries, message.error_code) == (SmsState.FAILED, 2, "1")


def test_an_expired_receipt_ends_the_text_expired_with_the_smsc_error_and_is_a_webhook_event(
    run: dict[str, object],
) -> None:
    message = run["messages"][N["expire"]]  # type: ignore[index]
    assert (message.state, message.tries, message.error_code) == (SmsState.EXPIRED, 1, "27")  # not retried
    assert message.done_at is not None
    engine = db.make_engine(str(run["url"]))
    with db.session_factory(engine)() as s:
        kinds = [(d.kind, json.loads(d.body).get("sms", {}).get("number")) for d in s.scalars(select(WebhookDelivery))]
    engine.dispose()
    assert [kind for kind, number in kinds if number == N["expire"]] == ["sms.expired"]


def test_a_throttled_submit_is_retried(run: dict[str, object]) -> None:
    message = run["messages"][N["throttle"]]  # type: ignore[index]
    assert (message.state, message.tries) == (SmsState.DELIVERED, 2)


def test_a_baja_reply_opts_out_of_sms_and_calls_and_the_voice_claim_skips_it(run: dict[str, object]) -> None:
    url = str(run["url"])
    (reply,) = _replies(url)
    assert (reply.number, reply.text, reply.opt_out) == (N["baja"], "Bája.", True)
    assert reply.sms_id == run["messages"][N["baja"]].id  # type: ignore[index]
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        assert s.get(SmsOptOut, N["baja"]) is not None and s.get(Dnc, N["baja"]).source == "sms-reply"  # type: ignore[union-attr]
    engine.dispose()
    assert [p.number for p in run["plans"]] == ["+34611141234"]  # type: ignore[attr-defined]
    baja_contact = contacts(url, int(run["voice"]))[0]  # type: ignore[call-overload]
    assert baja_contact.disposition == Disposition.SUPPRESSED


def test_a_text_is_not_sent_outside_the_window(run: dict[str, object]) -> None:
    message = run["messages"][N["closed"]]  # type: ignore[index]
    assert message.state == SmsState.QUEUED and message.tries == 0
    assert message.not_before is not None and message.not_before > datetime.now(UTC) + timedelta(hours=12)
    assert not [p for p in run["parts"] if p["to"] == N["closed"][1:]]  # type: ignore[attr-defined]


def test_report_and_replies_show_the_sms(run: dict[str, object]) -> None:
    from typer.testing import CliRunner

    from cli import app

    url = str(run["url"])
    report = CliRunner().invoke(app, ["report", "sms-pl", "--format", "csv", "--url", url])
    assert report.exit_code == 0, report.output
    rows = dict(line.rsplit(",", 1) for line in report.output.splitlines() if line.startswith("sms,"))
    # 4 texts: polish, fail_once (delivered after a retry), fail (failed), baja (delivered)
    assert (rows["sms,delivered"], rows["sms,failed"], rows["sms,replies"], rows["sms,opt_outs"]) == ("3", "1", "1", "1")
    assert float(rows["sms,cost"]) == pytest.approx(0.04 * 2 * 4)
    table = CliRunner().invoke(app, ["report", "sms-pl", "--url", url])
    assert "SMS" in table.output and "delivered" in table.output
    replies = CliRunner().invoke(app, ["sms", "replies", "sms-pl", "--url", url])
    assert replies.exit_code == 0 and "Bája." in replies.output and "yes" in replies.output
    assert N["baja"] not in replies.output  # numbers are masked


def test_delivered_failed_and_replied_texts_are_webhook_events(run: dict[str, object]) -> None:
    engine = db.make_engine(str(run["url"]))
    with db.session_factory(engine)() as s:
        events = [(d.kind, json.loads(d.body)) for d in s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]
    engine.dispose()
    numbers = {kind: {body["sms"]["number"] for k, body in events if k == kind} for kind in ("sms.delivered", "sms.failed")}
    assert {N["polish"], N["fail_once"], N["throttle"]} <= numbers["sms.delivered"]  # the retried ones once delivered
    assert numbers["sms.failed"] == {N["fail"]} and N["closed"] not in numbers["sms.delivered"]
    (reply,) = [body["reply"] for kind, body in events if kind == "sms.replied"]
    assert reply["number"] == N["baja"] and reply["opt_out"] is True
