"""An SMSC that goes away and comes back loses no text: while the SMPP session is not bound the
sender claims nothing, so the texts stay queued with their tries untouched (an outage longer
than every retry delay together fails none of them), and once aiosmpplib binds again they go
out and their receipts land. The SMSC is the test SMSC process, stopped by pid and started
again on the same port. A wallboard watching MQTT (a real mosquitto) sees each text sent and
then delivered, and never a number."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.config import MqttSettings
from dialer.domain import SmsState
from dialer.events import MqttPublisher
from dialer.sms.outbox import queue_text
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.storage import db
from dialer.storage.models import Campaign, Contact
from tests.campaigns import make_campaign, new_database
from tests.mosquitto import Mosquitto, Subscriber
from tests.sms_parts import free_port, smpp_smsc, texts_by_number

pytestmark = pytest.mark.sms

NUMBERS = ["+34600009101", "+34600009102", "+34600009103"]
SMS = {"sender": "GasSur", "retries": {"max_tries": 2, "delay_s": 0.2},
       "templates": {"es": {"balance": "{company}: saldo {amount}"}}}  # fmt: skip
PERSON = {"name": "Ana Ruiz", "amount": "12.50", "due_date": "2026-12-20", "concept": "gas"}


def _queue(url: str, campaign_id: int, number: str) -> None:
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        campaign = s.get(Campaign, campaign_id)
        for contact in s.scalars(select(Contact).where(Contact.campaign_id == campaign_id)):
            if contact.phones[0].number == number:
                queue_text(s, campaign, contact, number, "balance", kind="campaign", dedupe=f"outage:{number}")
    engine.dispose()


async def _until(check, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def test_texts_queued_while_the_smsc_is_down_wait_and_go_out_when_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "sms-outage", NUMBERS, people=[PERSON] * 3, render=False, flow="notify",
                        settings={"company": "Gas Sur", "sms": SMS})  # fmt: skip
    port = free_port()
    gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{port}?rate=50&timeout=2"))
    sessions = db.session_factory(db.make_engine(url))
    seen: dict[str, object] = {}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    broker = Mosquitto(tmp_path)
    broker.start()
    mqtt = MqttSettings.from_url(f"mqtt://127.0.0.1:{broker.port}", prefix="dialer", node="node1")

    async def main() -> None:
        async with (Subscriber(broker.port, "dialer/#") as watcher, MqttPublisher(mqtt) as events,
                    SmsService(sessions, gateway, events=events, poll_s=0.1)):  # fmt: skip
            with smpp_smsc(tmp_path / "a", {}, port=port) as first:
                _queue(url, cid, NUMBERS[0])
                await _until(lambda: texts_by_number(url)[NUMBERS[0]].state == SmsState.DELIVERED, 30)
                seen["first"] = first.parts()
            # the SMSC is gone (SIGTERM by pid): the session drops
            await _until(lambda: not gateway.bound, 15)
            _queue(url, cid, NUMBERS[1])
            _queue(url, cid, NUMBERS[2])
            await asyncio.sleep(3.0)  # 15 times the retry delay: without the fix both had failed
            seen["down"] = {n: (m.state, m.tries) for n, m in texts_by_number(url).items() if n != NUMBERS[0]}
            with smpp_smsc(tmp_path / "b", {}, port=port) as second:  # back, on the same port
                done = {SmsState.DELIVERED, SmsState.FAILED}
                await _until(lambda: all(texts_by_number(url)[n].state in done for n in NUMBERS[1:]), 60)
                seen["second"] = second.parts()
            await _until(lambda: len(watcher.messages) >= 6, 10)
            seen["mqtt"] = watcher.messages

    try:
        with caplog.at_level(logging.WARNING, logger="dialer.sms.service"):
            asyncio.run(main())
    finally:
        broker.stop()
    assert [p["to"] for p in seen["first"]] == [NUMBERS[0][1:]]  # type: ignore[attr-defined]
    assert seen["down"] == {n: (SmsState.QUEUED, 0) for n in NUMBERS[1:]}  # waiting, no try spent
    assert sorted(p["to"] for p in seen["second"]) == [n[1:] for n in NUMBERS[1:]]  # type: ignore[attr-defined]
    texts = texts_by_number(url)
    assert {n: (texts[n].state, texts[n].tries) for n in NUMBERS} == {n: (SmsState.DELIVERED, 1) for n in NUMBERS}
    assert "not bound" in caplog.text  # said once, not per text
    ids = {texts[n].id: n for n in NUMBERS}
    got = sorted((m.topic, m.payload["sms_id"], m.payload["tries"]) for m in seen["mqtt"])  # type: ignore[attr-defined]
    assert got == sorted((f"dialer/node1/campaign/{cid}/sms/{i}/{state}", i, 1) for i in ids
                         for state in ("sent", "delivered"))  # fmt: skip
    assert not any(n[-9:] in str(m.payload) for m in seen["mqtt"] for n in NUMBERS)  # type: ignore[attr-defined]
