"""Webhooks without Asterisk: signatures, events written with their ending (and only for
subscribers), at-least-once delivery in order per attempt through a receiver that fails, dead
letters and their replay, and the CLI. A real HTTP receiver (aiohttp) on a free port."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli import app
from dialer.domain import DialResult, Outcome
from dialer.events.webhook_events import webhooks_after_ending
from dialer.events.webhooks import WebhookSender, signature, verify
from dialer.storage import db
from dialer.storage.models import IvrEvent
from dialer.storage.repository import Repository
from dialer.storage.webhook_models import WebhookDelivery
from dialer.storage.webhook_store import DEAD, DELIVERED, Backoff, WebhookStore, enqueue
from tests.campaigns import make_campaign, new_database
from tests.webhook_receiver import receiver

pytestmark = pytest.mark.api
SECRET = "s3cret-s3cret-s3cret"


def test_a_signature_is_the_secrets_and_recent() -> None:
    body = b'{"kind":"attempt.ended"}'
    header = signature(SECRET, int(time.time()), body)
    assert verify(SECRET, header, body)
    assert not verify("another-secret-0000", header, body)
    assert not verify(SECRET, header, body + b" ")  # the body was changed on the way
    assert not verify(SECRET, signature(SECRET, int(time.time()) - 600, body), body)  # a replay, 10 min late
    assert not verify(SECRET, "v1=abc", body)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    url = new_database(str(tmp_path / "d.db"))
    make_campaign(url, "hooks", ["+34611200001", "+34611200002", "+34611200003"], render=False,
                  max_concurrent=10, calls_per_second=100)
    make_campaign(url, "other", ["+34611200009"], render=False)
    return Repository(db.session_factory(db.make_engine(url)), ending_hooks=(webhooks_after_ending,))


def test_events_are_written_with_their_ending_for_the_subscribers_only(repo: Repository) -> None:
    store = WebhookStore(repo.sessions)
    now = datetime.now(UTC)
    store.add("http://127.0.0.1:9/all", SECRET, [], "hooks", now)
    store.add("http://127.0.0.1:9/opt-outs", SECRET, ["contact.opted_out"], None, now)
    plans = repo.claim(1, 3, token="t")
    repo.confirm_claim("t")
    busy, out, moved = (p.attempt_id for p in plans)
    repo.finish(busy, dial_result=DialResult.BUSY, reason="busy")
    with repo.sessions.begin() as s:  # the IVR's promise before the caller opted out
        s.add(IvrEvent(attempt_id=out, seq=1, at=now, kind="fact", name="promise_to_pay",
                       value=json.dumps({"date": "2026-12-24", "amount": "120.50"})))  # fmt: skip
    repo.finish(out, outcome=Outcome.OPTED_OUT, reason="pressed 9")
    repo.finish(moved, outcome=Outcome.TRANSFERRED, reason="to the queue",
                details={"agent_answered": True, "queue": "collections", "queue_wait_s": 4.2})  # fmt: skip
    with repo.sessions() as s:
        rows = list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    kinds = [(r.webhook_id, r.attempt_id, r.kind) for r in rows]
    assert kinds == [(1, busy, "attempt.ended"), (1, out, "promise.created"), (1, out, "contact.opted_out"),
                     (2, out, "contact.opted_out"), (1, out, "attempt.ended"), (1, moved, "attempt.transferred"),
                     (1, moved, "agent.answered"), (1, moved, "attempt.ended")]  # fmt: skip
    promise = json.loads(rows[1].body)["promise"]
    assert promise == {"date": "2026-12-24", "amount": "120.50", "held_until": None}  # no [promise]: a fact
    rows = [rows[0], *rows[2:]]  # (the promise checked above)
    body = json.loads(rows[0].body)
    assert body["kind"] == "attempt.ended" and body["id"] == rows[0].event_id
    assert body["attempt"]["dial_result"] == "busy" and body["contact"]["external_id"] == "C0"
    assert json.loads(rows[5].body)["queue_wait_s"] == 4.2
    other = repo.claim(2, 1, token="u")  # a campaign no one subscribed to: nothing written
    repo.confirm_claim("u")
    repo.finish(other[0].attempt_id, dial_result=DialResult.BUSY, reason="busy")
    with repo.sessions() as s:
        assert len(list(s.scalars(select(WebhookDelivery)))) == 8


async def test_a_receiver_that_fails_three_times_gets_each_event_once_in_order(repo: Repository) -> None:
    now = datetime.now(UTC)
    async with receiver(SECRET, statuses=[500, 500, 500]) as box:
        hook = WebhookStore(repo.sessions).add(box.url, SECRET, [], None, now)
        assert hook
        with repo.sessions.begin() as s:  # two attempts' events, interleaved as endings would be
            for i, attempt in enumerate(["a1", "a2", "a1", "a2", "a1"]):
                enqueue(s, 1, "attempt.ended", {"n": i}, now, attempt_id=attempt)
        sender = WebhookSender(repo.sessions, backoff=Backoff(first_s=0.1, max_s=0.2), poll_s=0.05)
        async with sender:
            for _ in range(200):
                if len(box.delivered()) == 5:
                    break
                await asyncio.sleep(0.05)
        assert all(r.signed for r in box.got)
        delivered = box.delivered()
        assert len(box.got) == 8 and len(delivered) == 5  # three refusals, then each event once
        assert len({r.event_id for r in delivered}) == 5
        for attempt in ("a1", "a2"):  # in order per attempt, whatever the failures did
            ns = [r.body["n"] for r in delivered if r.body["n"] in ((0, 2, 4) if attempt == "a1" else (1, 3))]
            assert ns == sorted(ns)
    with repo.sessions() as s:
        assert {d.state for d in s.scalars(select(WebhookDelivery))} == {DELIVERED}


async def test_a_receiver_down_past_the_maximum_age_gives_dead_letters_that_retry_sends(repo: Repository,
                                                                                      tmp_path: Path) -> None:  # fmt: skip
    now = datetime.now(UTC)
    async with receiver(SECRET, statuses=[503] * 100) as box:
        WebhookStore(repo.sessions).add(box.url, SECRET, [], None, now)
        with repo.sessions.begin() as s:
            enqueue(s, 1, "attempt.ended", {"n": 1}, now - timedelta(seconds=1), attempt_id="a1")
        async with WebhookSender(repo.sessions, backoff=Backoff(first_s=0.05, max_s=0.1, max_age_s=1.5), poll_s=0.05):
            for _ in range(100):
                if WebhookStore(repo.sessions).deliveries(DEAD):
                    break
                await asyncio.sleep(0.05)
        (dead,) = WebhookStore(repo.sessions).deliveries(DEAD)
        assert dead.tries >= 2 and dead.last_status == 503
        box.statuses.clear()
        url = str(repo.sessions.kw["bind"].url)
        result = CliRunner().invoke(app, ["webhooks", "retry", "--dead", "--url", url])
        assert result.exit_code == 0 and "1 deliveries queued again" in result.output
        async with WebhookSender(repo.sessions, poll_s=0.05):
            for _ in range(100):
                if box.delivered():
                    break
                await asyncio.sleep(0.05)
        assert [r.body["n"] for r in box.delivered()] == [1]


def test_the_cli_adds_lists_and_refuses_bad_subscriptions(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    make_campaign(url, "hooks", ["+34611200001"], render=False)
    cli = CliRunner()
    added = cli.invoke(app, ["webhooks", "add", "https://crm.example/hooks", "--campaign", "hooks",
                             "--events", "attempt.ended,promise.created", "--url", url])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "secret (keep it" in added.output
    listed = cli.invoke(app, ["webhooks", "list", "--url", url])
    assert "https://crm.example/hooks" in listed.output and "attempt.ended, promise.created" in listed.output
    bad = cli.invoke(app, ["webhooks", "add", "https://crm.example/x", "--events", "attempt.endd", "--url", url])
    assert bad.exit_code == 1 and "unknown kind 'attempt.endd'" in bad.output
    assert cli.invoke(app, ["webhooks", "add", "crm.example", "--url", url]).exit_code == 1
    nobody = cli.invoke(app, ["webhooks", "add", "https://crm.example/x", "--campaign", "nope", "--url", url])
    assert nobody.exit_code == 1 and "no campaign named 'nope'" in nobody.output
