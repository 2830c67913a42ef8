"""Live events without Asterisk: topics, masking, the buffer bound, settings, payloads, and the
publisher against a real mosquitto (reconnect, retained progress)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dialer.config import ConfigError, MqttSettings
from dialer.domain import Outcome
from dialer.events import LiveEvents, MqttPublisher, NullSink, mask_number, topic_for
from dialer.storage.claims import Plan
from dialer.storage.endings import Ending
from tests.mosquitto import Mosquitto, Subscriber, free_port


def settings(port: int = 1, prefix: str = "dialer") -> MqttSettings:
    return MqttSettings.from_url(f"mqtt://127.0.0.1:{port}", prefix=prefix, node="node1")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    m = Mosquitto(tmp_path)
    m.start()
    yield m
    m.stop()


# -- topics and payload pieces ----------------------------------------------------------
def test_topics() -> None:
    attempt = {"campaign_id": 7, "attempt_id": "a-1"}
    assert topic_for("dialer", "pbx1", "started", attempt) == "dialer/pbx1/campaign/7/attempt/a-1/started"
    assert topic_for("acme/dialer", "pbx1", "ended", attempt) == "acme/dialer/pbx1/campaign/7/attempt/a-1/ended"
    assert topic_for("dialer", "pbx1", "progress", {"campaign_id": 7}) == "dialer/pbx1/campaign/7/progress"
    # a node or attempt id can never add a level or a wildcard
    odd = {"campaign_id": 1, "attempt_id": "x/#"}
    assert topic_for("d", "a/b+#", "amd", odd) == "d/a_b__/campaign/1/attempt/x__/amd"
    with pytest.raises(ValueError, match="unknown event kind 'hello'"):
        topic_for("d", "n", "hello", attempt)
    with pytest.raises(KeyError):
        topic_for("d", "n", "started", {"campaign_id": 1})


def test_numbers_are_masked_but_the_last_four_digits() -> None:
    assert mask_number("+34611141234") == "+*******1234"
    assert mask_number("5551234") == "***1234"
    assert mask_number("123") == "123"


def test_settings_from_url(monkeypatch: pytest.MonkeyPatch) -> None:
    s = MqttSettings.from_url("mqtts://us%40r:p%3Ass@broker.example:9999", node="pbx1")
    assert (s.host, s.port, s.username, s.password, s.tls, s.client_id) == (
        "broker.example", 9999, "us@r", "p:ss", True, "dialer-pbx1")
    assert "p:ss" not in repr(s)
    assert MqttSettings.from_url("mqtt://h").port == 1883
    assert MqttSettings.from_url("mqtts://h").port == 8883
    for bad, why in [("http://h", "scheme"), ("mqtt://", "no host"), ("mqtt://h/x", "path"),
                     ("mqtt://user:secret@h:99999", "not a URL")]:  # fmt: skip
        with pytest.raises(ConfigError, match=f"DIALER_MQTT_URL.*{why}") as info:
            MqttSettings.from_url(bad)
        assert "secret" not in str(info.value)
    with pytest.raises(ConfigError, match="DIALER_MQTT_PREFIX"):
        MqttSettings.from_url("mqtt://h", prefix="a/#")
    monkeypatch.delenv("DIALER_MQTT_URL", raising=False)
    assert MqttSettings.from_env() is None
    monkeypatch.setenv("DIALER_MQTT_URL", "mqtt://h:1")
    monkeypatch.setenv("DIALER_MQTT_PREFIX", "acme")
    monkeypatch.setenv("DIALER_NODE", "n9")
    env = MqttSettings.from_env()
    assert env is not None and (env.prefix, env.node, env.client_id) == ("acme", "n9", "dialer-n9")


# -- the buffer bound -------------------------------------------------------------------
def test_a_full_buffer_drops_the_oldest_counts_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dialer.events")
    pub = MqttPublisher(settings(), max_buffer=10)  # never started: the buffer only fills
    for i in range(25):
        pub.publish("started", {"campaign_id": 1, "attempt_id": f"a{i}"})
    assert (pub.seq, pub.dropped, pub.buffered) == (25, 15, 10)
    assert [m.seq for m in pub._queue] == list(range(16, 26))
    body = json.loads(pub._queue[-1].body)
    assert body["seq"] == 25 and body["attempt_id"] == "a24" and body["ts"].endswith("Z")
    assert sum("buffer full" in r.message for r in caplog.records) == 1


def test_publish_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    pub = MqttPublisher(settings())
    pub.publish("bogus", {"campaign_id": 1, "attempt_id": "a"})
    pub.publish("bogus", {"campaign_id": 1, "attempt_id": "a"})
    pub.publish("started", {"attempt_id": "no campaign"})
    assert pub.seq == 0 and pub.buffered == 0
    assert sum("not published" in r.message for r in caplog.records) == 2  # once per kind


# -- payloads (LiveEvents) ----------------------------------------------------------------
class Recording:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        self.events.append((kind, payload))


class Call:
    def __init__(self, attempt_id: str, campaign_id: int) -> None:
        self.attempt_id, self.campaign_id = attempt_id, campaign_id
        self.amd_status, self.amd_cause = "HUMAN", "HUMAN-801-800"


async def test_live_events_payloads_and_progress() -> None:
    sink = Recording()
    queries: list[int] = []

    async def progress(cid: int) -> dict[str, Any]:
        queries.append(cid)
        return {"counts": {"transferred": 1}, "pending_contacts": 4}

    live = LiveEvents(sink, progress, every_s=60, tick_s=0.01)
    live.started(Plan("a1", 3, 11, "+34611141234", "CRM-9"))
    call = Call("a1", 3)
    live.answered(call)
    live.amd(call)
    live.ivr_step("a1", "identity", key="1234")  # identity digits: never published
    live.ivr_step("a1", "menu", key="2")
    live.transferred("a1", "collections", True, 3.21)
    await asyncio.sleep(0.1)  # the first progress goes out at once
    live.ended(Ending("a1", "agent hung up", outcome=Outcome.TRANSFERRED, cause=16, step="transfer"))
    live.ivr_step("unknown-attempt", "menu")  # no campaign known: skipped
    await asyncio.sleep(0.1)  # rate-limited: no second query within every_s
    assert queries == [3]
    await live.stop()  # the last change is published at stop
    assert queries == [3, 3]
    kinds = [k for k, _ in sink.events]
    assert kinds == ["started", "answered", "amd", "ivr_step", "ivr_step", "transferred", "progress", "ended",
                     "progress"]  # fmt: skip
    p = [p for _, p in sink.events]
    assert p[0] == {"attempt_id": "a1", "campaign_id": 3, "contact_id": 11, "external_id": "CRM-9",
                    "number": "+*******1234"}  # fmt: skip
    assert p[2]["result"] == "HUMAN" and p[2]["cause"] == "HUMAN-801-800"
    assert p[3] == {"attempt_id": "a1", "campaign_id": 3, "step": "identity"}
    assert p[4]["key"] == "2"
    assert p[5] == {"attempt_id": "a1", "campaign_id": 3, "queue": "collections", "agent_answered": True,
                    "queue_wait_s": 3.21}  # fmt: skip
    assert p[6] == {"campaign_id": 3, "counts": {"transferred": 1}, "ended": 1, "live_calls": 1,
                    "pending_contacts": 4}  # fmt: skip
    assert p[7]["result"] == "transferred" and p[7]["dial_result"] is None and p[7]["step_reached"] == "transfer"
    assert p[7]["duration_s"] >= p[7]["talk_s"] >= 0 and p[7]["cause"] == 16
    assert p[8]["live_calls"] == 0


def test_null_sink_costs_nothing() -> None:
    live = LiveEvents(NullSink(), progress=None)
    live.started(Plan("a1", 3, 11, "+34611141234"))
    live.touch(3)
    assert not live.enabled and not live._live and not live._dirty


# -- the publisher against a real broker --------------------------------------------------
async def test_publisher_delivers_in_order_with_retained_progress(broker: Mosquitto) -> None:
    async with Subscriber(broker.port, "dialer/#") as sub:
        async with MqttPublisher(settings(broker.port)) as pub:
            for i in range(500):
                pub.publish("started", {"campaign_id": 1, "attempt_id": f"a{i}"})
            pub.publish("progress", {"campaign_id": 1, "counts": {}})
        assert pub.delivered == 501 and pub.buffered == 0
        await sub.wait_for_seqs(501)
        assert [m.payload["seq"] for m in sub.messages] == list(range(1, 502))
    async with Subscriber(broker.port, "dialer/+/campaign/+/progress", "late", clean=True) as late:
        await late.wait_for_seqs(1)
        assert late.messages[0].retain and late.messages[0].payload["seq"] == 501


async def test_publisher_reconnects_after_the_broker_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dialer.events")
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        async with Subscriber(broker.port, "dialer/#") as sub:
            pub = MqttPublisher(settings(broker.port), max_buffer=5, timeout_s=1, reconnect_max_s=0.3)
            pub.start()
            pub.publish("started", {"campaign_id": 1, "attempt_id": "before"})
            await sub.wait_for_seqs(1)
            broker.stop()
            for i in range(8):  # the first notices the outage, the rest wait in the buffer of 5
                pub.publish("started", {"campaign_id": 1, "attempt_id": f"during{i}"})
                await asyncio.sleep(0.05)
            assert not pub.connected
            broker.start()
            await asyncio.wait_for(_until(lambda: pub.connected), 10)
            pub.publish("ended", {"campaign_id": 1, "attempt_id": "after"})
            assert await pub.close(10) == 0
            assert pub.dropped == 3
            await sub.wait_for_seqs(pub.seq - pub.dropped)
            assert sorted(sub.seqs()) == [1, *range(5, 11)]  # the oldest three of the outage were dropped
            assert sub.messages[-1].payload["attempt_id"] == "after"
    finally:
        broker.stop()
    text = caplog.text
    assert text.count("unavailable") == 1  # warned once for the outage
    assert "3 events dropped meanwhile" in text


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.02)


async def test_broker_never_there_close_returns_within_its_timeout() -> None:
    pub = MqttPublisher(settings(free_port()), reconnect_max_s=0.2)
    pub.start()
    pub.publish("started", {"campaign_id": 1, "attempt_id": "a"})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await pub.close(0.5) == 1
    assert loop.time() - t0 < 2


def test_a_broken_event_never_reaches_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    live = LiveEvents(Recording())
    live.started(object())  # not a plan: logged, not raised
    assert "live event started failed" in caplog.text
