"""Live events of real calls (the sandbox Asterisk) through a real mosquitto, broker up or down."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from dialer.config import EngineSettings, MqttSettings
from dialer.domain import AttemptState
from dialer.engine import Engine
from dialer.events import MqttPublisher, mask_number
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.repository import Repository
from tests.campaigns import attempts, make_campaign, new_database
from tests.mosquitto import Mosquitto, Received, Subscriber
from tests.test_daemon_asterisk import start_daemon, stop_daemon

pytestmark = pytest.mark.asterisk

ORDER = {"started": 0, "answered": 1, "amd": 2, "ended": 3}


def engine_for(url: str, sandbox: Sandbox, publisher: MqttPublisher) -> Engine:
    repo = Repository(db.session_factory(db.make_engine(url)))
    settings = EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5)
    return Engine(repo, sandbox.ami, settings, events=publisher)


def publisher_for(broker: Mosquitto, **kwargs: float) -> MqttPublisher:
    settings = MqttSettings.from_url(f"mqtt://127.0.0.1:{broker.port}", node="test-node")
    return MqttPublisher(settings, timeout_s=2, reconnect_max_s=0.5, **kwargs)  # type: ignore[arg-type]


def by_attempt(messages: list[Received]) -> dict[str, list[Received]]:
    """Each attempt's events, first arrival of each seq, in arrival order."""
    seen: set[int] = set()
    out: dict[str, list[Received]] = defaultdict(list)
    for m in messages:
        if m.kind != "progress" and m.payload["seq"] not in seen:
            seen.add(m.payload["seq"])
            out[m.payload["attempt_id"]].append(m)
    return out


def assert_in_order(events: list[Received]) -> None:
    kinds = [m.kind for m in events]
    assert kinds[0] == "started" and kinds[-1] == "ended", kinds
    assert sorted(kinds, key=ORDER.__getitem__) == kinds, kinds
    seqs = [m.payload["seq"] for m in events]
    assert seqs == sorted(seqs)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    (tmp_path / "mqtt").mkdir()
    m = Mosquitto(tmp_path / "mqtt")
    m.start()
    yield m
    m.stop()


async def test_one_call_events_arrive_in_order(sandbox: Sandbox, tmp_path: Path, broker: Mosquitto) -> None:
    url = new_database(str(tmp_path / "d.db"))
    number = sim_number("human")
    cid = make_campaign(url, "events", [number])
    async with Subscriber(broker.port, "dialer/#") as sub:
        async with publisher_for(broker) as pub:
            await engine_for(url, sandbox, pub).run_until_finished([cid], timeout=60)
        await sub.wait_for_seqs(pub.seq)
    (attempt,) = attempts(url, cid)
    events = by_attempt(sub.messages)[attempt.id]
    assert [m.kind for m in events] == ["started", "answered", "amd", "ended"]
    base = f"dialer/test-node/campaign/{cid}/attempt/{attempt.id}/"
    assert [m.topic for m in events] == [base + k for k in ("started", "answered", "amd", "ended")]
    started, answered, amd, ended = (m.payload for m in events)
    assert started["seq"] < answered["seq"] < amd["seq"] < ended["seq"]
    assert all(p["attempt_id"] == attempt.id and p["campaign_id"] == cid for p in (started, answered, amd, ended))
    assert started["external_id"] == "C0" and started["contact_id"] == attempt.contact_id
    assert started["number"] == mask_number(number) and number not in str(sub.messages)
    assert datetime.fromisoformat(started["ts"]) <= datetime.fromisoformat(ended["ts"])
    assert amd["result"] == "HUMAN" and amd["cause"].startswith("HUMAN")
    assert ended["result"] == ended["outcome"] == attempt.outcome.value == "hung_up_early"
    assert ended["dial_result"] is None and ended["step_reached"] == "ivr" and ended["reason"] == attempt.reason
    assert ended["duration_s"] > ended["talk_s"] > 0
    progress = [m.payload for m in sub.messages if m.kind == "progress"]
    assert progress[-1] == {**progress[-1], "campaign_id": cid, "counts": {"hung_up_early": 1}, "ended": 1,
                            "live_calls": 0, "pending_contacts": 0}  # fmt: skip
    assert progress[-1]["seq"] == pub.seq  # the last word on the campaign
    async with Subscriber(broker.port, "dialer/+/campaign/+/progress", "late", clean=True) as late:
        await late.wait_for_seqs(1)
        assert late.messages[0].retain and late.messages[0].payload == progress[-1]


async def test_broker_down_at_start_dialing_goes_on_and_events_follow(
    sandbox: Sandbox, tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dialer.events")
    url = new_database(str(tmp_path / "d.db"))
    numbers = [sim_number("busy", tag=1), sim_number("hangup", hangup_after_s=1, tag=2), sim_number("machine")]
    cid = make_campaign(url, "down", numbers, max_concurrent=3, calls_per_second=20)
    async with Subscriber(broker.port, "dialer/#") as sub:  # its session outlives the broker's restart
        broker.stop()
        pub = publisher_for(broker)
        pub.start()
        try:
            await engine_for(url, sandbox, pub).run_until_finished([cid], timeout=60)
            rows = attempts(url, cid)
            assert len(rows) == 3 and all(a.state == AttemptState.ENDED for a in rows)
            assert not pub.connected and pub.buffered == pub.seq and pub.delivered == 0
            assert "unavailable" in caplog.text and "dialing goes on" in caplog.text
            broker.start()
            await sub.wait_for_seqs(pub.seq)
        finally:
            await pub.close(5)
    assert pub.dropped == 0 and "back after" in caplog.text
    events = by_attempt(sub.messages)
    assert set(events) == {a.id for a in rows}
    for a in rows:
        assert_in_order(events[a.id])
        assert events[a.id][-1].payload["result"] == (a.dial_result or a.outcome).value


async def test_broker_restart_mid_run_reconnects_and_counts_drops(
    sandbox: Sandbox, tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dialer.events")
    url = new_database(str(tmp_path / "d.db"))
    numbers = [sim_number("hangup", hangup_after_s=1, tag=i) for i in range(12)]
    cid = make_campaign(url, "restart", numbers, max_concurrent=2, calls_per_second=20)
    async with Subscriber(broker.port, "dialer/#") as sub:
        pub = publisher_for(broker, max_buffer=3)
        pub.start()
        try:
            run = asyncio.create_task(engine_for(url, sandbox, pub).run_until_finished([cid], timeout=90))
            await _until(lambda: any(m.kind == "ended" for m in sub.messages), 30)
            broker.stop()
            await _until(lambda: pub.dropped > 0, 30)  # calls go on; the buffer of 3 overflows
            assert not run.done()
            broker.start()
            await _until(lambda: pub.connected, 10)
            await asyncio.wait_for(run, 90)
            assert await pub.close(10) == 0
        finally:
            await pub.close(1)
        await sub.wait_for_seqs(pub.seq - pub.dropped)
    rows = attempts(url, cid)
    assert len(rows) == 12 and all(a.state == AttemptState.ENDED for a in rows)
    assert len(sub.seqs()) == pub.seq - pub.dropped and max(sub.seqs()) == pub.seq  # all but the dropped
    assert "events dropped meanwhile" in caplog.text
    events = by_attempt(sub.messages)
    last = rows[-1]  # dialled after the restart: every event of it arrived
    assert_in_order(events[last.id])
    for evs in events.values():
        assert sorted(evs, key=lambda m: ORDER[m.kind]) == evs


async def _until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def test_dialer_run_publishes_when_the_url_is_set(
    sandbox: Sandbox, tmp_path: Path, broker: Mosquitto
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "daemon", [sim_number("busy", tag=3), sim_number("congestion", tag=3)],
                        max_concurrent=2, calls_per_second=20)  # fmt: skip
    log = tmp_path / "daemon.log"
    env = {"DIALER_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}", "DIALER_MQTT_PREFIX": "acme/dialer",
           "DIALER_NODE": "pbx9"}  # fmt: skip
    async with Subscriber(broker.port, "acme/dialer/pbx9/#") as sub:
        proc = start_daemon(url, sandbox, log, env)
        try:
            await _until(lambda: sum(m.kind == "ended" for m in sub.messages) == 2, 30)
        finally:
            assert await asyncio.to_thread(stop_daemon, proc) == 0, log.read_text()
        await _until(lambda: any(m.kind == "progress" and m.payload["ended"] == 2 for m in sub.messages), 10)
    events = by_attempt(sub.messages)
    assert {a.id for a in attempts(url, cid)} == set(events)
    assert all([m.kind for m in evs] == ["started", "ended"] for evs in events.values())
    assert all(m.topic.startswith(f"acme/dialer/pbx9/campaign/{cid}/") for m in sub.messages)
    assert "MQTT: connected to 127.0.0.1" in log.read_text() and "as dialer-pbx9" in log.read_text()
