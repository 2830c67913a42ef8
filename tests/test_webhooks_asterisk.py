"""Webhooks from a sandbox campaign (real Asterisk) to a real HTTP receiver: a caller who opts out
and a busy number; the receiver checks every signature and gets each event of each attempt once,
in order, while the calls never waited for it. (A promise's event: tests/test_webhooks.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dialer.config import EngineSettings
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.events.webhook_events import webhooks_after_ending
from dialer.events.webhooks import WebhookSender
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.promises import promise_after_ending
from dialer.storage.repository import Repository
from dialer.storage.webhook_store import WebhookStore
from tests.campaigns import make_campaign, new_database, scripted
from tests.webhook_receiver import receiver

pytestmark = [pytest.mark.asterisk, pytest.mark.api]
SECRET = "sandbox-secret-0123456789"
PERSON = {"name": "Ana Pérez", "amount": "12500", "due_date": "2026-11-20", "concept": "la factura de gas"}


async def test_a_sandbox_campaigns_events_reach_a_receiver_signed(sandbox: Sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = new_database(str(tmp_path / "d.db"))
    who = {"opt_out": scripted(sandbox, 131, ["1", "9"]),
           "busy": sim_number("busy", tag=133)}  # fmt: skip
    cid = make_campaign(url, "hooked", list(who.values()), people=[PERSON] * 2, flow="collections",
                        settings={"company": "Gas Sur", "retries": {"max_attempts": 1}},
                        max_concurrent=5, calls_per_second=10)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)), ending_hooks=(promise_after_ending,
                                                                              webhooks_after_ending))  # fmt: skip
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5),
                    IvrHost(repo.sessions, sandbox.agi))  # fmt: skip
    async with receiver(SECRET) as box:
        WebhookStore(repo.sessions).add(box.url, SECRET, [], "hooked", datetime.now(UTC))
        async with WebhookSender(repo.sessions, poll_s=0.2):
            await engine.run_until_finished([cid], timeout=120)
            for _ in range(100):  # the last ending's events
                if sum(r.kind == "attempt.ended" for r in box.delivered()) == 2:
                    break
                await asyncio.sleep(0.1)
    assert box.got and all(r.signed for r in box.got)
    by_number: dict[str, list[str]] = {}
    for r in box.delivered():
        by_number.setdefault(r.body["attempt"]["number"], []).append(r.kind)
    assert by_number[who["opt_out"]] == ["contact.opted_out", "attempt.ended"]
    assert by_number[who["busy"]] == ["attempt.ended"]
    out = next(r.body for r in box.delivered() if r.kind == "contact.opted_out")
    assert out["attempt"]["outcome"] == "opted_out" and out["contact"]["external_id"] == "C0"
    busy = next(r.body for r in box.delivered() if r.body["attempt"]["number"] == who["busy"])
    assert busy["attempt"]["dial_result"] == "busy" and busy["campaign"]["name"] == "hooked"
    assert len({r.event_id for r in box.delivered()}) == len(box.delivered()) == 3
