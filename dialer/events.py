"""Live events for wallboards and CRMs: what the engine and the IVR publish, and the MQTT publisher.

The engine calls `EventSink.publish(kind, payload)`, which never awaits and never raises, so a
broker that is down or slow never holds a call up. `MqttPublisher` keeps a bounded in-memory
buffer (when it is full the oldest event is dropped and counted), sends the events in order
with QoS 1 from one task, and reconnects with backoff. Delivery is at least once: after a
reconnect the events the broker had not acknowledged are sent again; `seq` tells repeats apart.
`LiveEvents` builds the payloads (the engine's and the IVR's single place for them) and
publishes each campaign's progress, at most once per `every_s` per campaign.

Topics (README, "Live events (MQTT)"):
    <prefix>/<node>/campaign/<campaign_id>/attempt/<attempt_id>/<event>
    <prefix>/<node>/campaign/<campaign_id>/progress          (retained)
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiomqtt

from dialer.config import MqttSettings

log = logging.getLogger(__name__)

ATTEMPT_EVENTS = frozenset({"started", "answered", "amd", "ivr_step", "transferred", "ended"})
PROGRESS = "progress"
DTMF_KEYS = set("0123456789*#ABCD")


class EventSink(Protocol):
    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue one event; never awaits, never raises (call it from the event loop's thread)."""


class NullSink:
    """Events off (DIALER_MQTT_URL unset)."""

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        pass


def topic_for(prefix: str, node: str, kind: str, payload: dict[str, Any]) -> str:
    """The topic of one event; ValueError for an unknown kind or a payload without its ids."""
    base = f"{prefix}/{_level(node)}/campaign/{int(payload['campaign_id'])}"
    if kind == PROGRESS:
        return f"{base}/progress"
    if kind not in ATTEMPT_EVENTS:
        raise ValueError(f"unknown event kind {kind!r}")
    return f"{base}/attempt/{_level(str(payload['attempt_id']))}/{kind}"


def _level(text: str) -> str:
    """One topic level: no separator or wildcard inside it."""
    return "".join("_" if c in "/+#" else c for c in text) or "_"


def mask_number(number: str) -> str:
    """All digits but the last 4 hidden: '+34611141234' -> '+*******1234'."""
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    return plus + "*" * max(len(digits) - 4, 0) + digits[-4:]


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class _Message:
    seq: int
    topic: str
    body: bytes
    retain: bool


class MqttPublisher:
    """EventSink that sends to an MQTT broker (aiomqtt), QoS 1, from a bounded buffer.

    `start()` then `await close(timeout)`, or `async with MqttPublisher(settings) as sink:`.
    Events published before start() wait in the buffer.
    """

    def __init__(
        self,
        settings: MqttSettings,
        max_buffer: int = 10_000,
        window: int = 32,  # events sent before waiting for their acknowledgements (bench/events.py)
        timeout_s: float = 5.0,  # connect, each publish, disconnect
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        if max_buffer < 1 or window < 1:
            raise ValueError("max_buffer and window must be at least 1")
        self.settings = settings
        self.max_buffer, self.window, self.timeout_s = max_buffer, window, timeout_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.seq = 0  # events accepted (the last seq given)
        self.delivered = 0  # acknowledged by the broker
        self.dropped = 0  # thrown away because the buffer was full
        self.connected = False
        self._queue: deque[_Message] = deque()
        self._inflight: list[_Message] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._down_since: float | None = None
        self._outage_drops = 0
        self._full_warned = False
        self._bad_kinds: set[str] = set()

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def buffered(self) -> int:
        return len(self._queue) + len(self._inflight)

    # -- the sink -----------------------------------------------------------------------
    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            topic = topic_for(self.settings.prefix, self.settings.node, kind, payload)
            body = json.dumps({**payload, "ts": utc_now_iso(), "seq": self.seq + 1}, default=str,
                              separators=(",", ":")).encode()  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a bad event is a bug to log, never a failed call
            if kind not in self._bad_kinds:
                self._bad_kinds.add(kind)
                log.error("event %r not published: %s", kind, exc)
            return
        self.seq += 1
        if len(self._queue) >= self.max_buffer:
            self._queue.popleft()
            self._drop()
        self._queue.append(_Message(self.seq, topic, body, retain=kind == PROGRESS))
        self._wake.set()

    def _drop(self) -> None:
        self.dropped += 1
        self._outage_drops += 1
        if not self._full_warned:
            self._full_warned = True
            log.warning("MQTT event buffer full (%d events): dropping the oldest until the broker takes them",
                        self.max_buffer)  # fmt: skip

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-publisher")

    async def close(self, timeout: float = 5.0) -> int:
        """Send what the broker takes within `timeout`, then stop; returns the events left unsent."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=self.timeout_s)
        left = self.buffered
        if left or self.dropped:
            log.warning("MQTT publisher closed: %d events not delivered, %d dropped in all", left, self.dropped)
        return left

    async def __aenter__(self) -> MqttPublisher:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- the sending task ---------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            s.host, s.port, username=s.username, password=s.password, identifier=s.client_id,
            timeout=self.timeout_s, keepalive=30, max_inflight_messages=self.window,
            tls_context=ssl.create_default_context() if s.tls else None,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],  # a window goes out at once
        )  # fmt: skip
        client.pending_calls_threshold = self.window  # a window in flight is normal, not worth a warning
        return client

    async def _run(self) -> None:
        delay = self.reconnect_min_s
        while not (self._closing and not self._queue):
            client = self._client()
            try:
                await asyncio.wait_for(client.__aenter__(), self.timeout_s)
            except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
                self._outage(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            delay = self.reconnect_min_s
            self._up()
            try:
                await self._send_all(client)
            except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
                self._outage(exc)
            finally:
                self._requeue(len(self._inflight))
                with suppress(Exception):
                    await asyncio.wait_for(client.__aexit__(None, None, None), self.timeout_s)
                _retrieve_disconnect_error(client)

    async def _send_all(self, client: aiomqtt.Client) -> None:
        """Send the buffer in order, `window` at a time; returns when closing and empty."""
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            self._inflight = [self._queue.popleft() for _ in range(min(self.window, len(self._queue)))]
            sends = [client.publish(m.topic, m.body, qos=1, retain=m.retain, timeout=self.timeout_s)
                     for m in self._inflight]  # fmt: skip
            results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), self.timeout_s * 2)
            failed = next((i for i, r in enumerate(results) if isinstance(r, BaseException)), None)
            acked = len(results) if failed is None else failed
            self.delivered += acked
            del self._inflight[:acked]  # the rest (from the first failure on) go again, in order
            if failed is not None:
                error = results[failed]
                raise error if isinstance(error, aiomqtt.MqttError) else aiomqtt.MqttError(str(error))

    def _requeue(self, count: int) -> None:
        self._queue.extendleft(reversed(self._inflight[:count]))
        self._inflight = []
        while len(self._queue) > self.max_buffer:
            self._queue.popleft()
            self._drop()

    def _outage(self, exc: BaseException) -> None:
        self.connected = False
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("MQTT broker %s unavailable (%s): dialing goes on; up to %d events are kept, "
                        "retrying with backoff", self.where, str(exc) or type(exc).__name__, self.max_buffer)  # fmt: skip
        else:
            log.debug("MQTT broker %s still unavailable: %s", self.where, exc)

    def _up(self) -> None:
        self.connected = True
        self._full_warned = False
        drops, self._outage_drops = self._outage_drops, 0  # dropped since the last connection
        if self._down_since is None:
            log.info("MQTT: connected to %s as %s", self.where, self.settings.client_id)
            return
        log.log(logging.WARNING if drops else logging.INFO, "MQTT broker %s back after %.1f s: %d events "
                "dropped meanwhile, %d to send", self.where, time.monotonic() - self._down_since, drops, self.buffered)
        self._down_since = None


def _retrieve_disconnect_error(client: aiomqtt.Client) -> None:
    """aiomqtt 2 leaves an unexpected disconnection's error in a future nobody reads, which asyncio
    reports as "Future exception was never retrieved" when it is collected: read it (it was logged)."""
    future = getattr(client, "_disconnected", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


# -- payloads: one place for the engine and the IVR ----------------------------------------
class PlanLike(Protocol):
    attempt_id: str
    campaign_id: int
    contact_id: int
    external_id: str | None
    number: str


class CallLike(Protocol):
    attempt_id: str
    campaign_id: int
    amd_status: str | None
    amd_cause: str | None


class EndingLike(Protocol):
    attempt_id: str
    reason: str
    dial_result: Any
    outcome: Any
    cause: int | None
    step: str | None

    @property
    def what(self) -> str: ...


@dataclass
class _Live:
    campaign_id: int
    started: float | None = None
    answered: float | None = None


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


class LiveEvents:
    """What happens to attempts and campaigns, as events on a sink (cheap no-ops on NullSink).

    `progress(campaign_id)` is an async query giving {"counts": {result: n}, "pending_contacts": n};
    it runs at most once per `every_s` per campaign, only after something changed.
    """

    def __init__(
        self,
        sink: EventSink | None = None,
        progress: Callable[[int], Awaitable[dict[str, Any]]] | None = None,
        every_s: float = 5.0,
        tick_s: float = 0.5,
        query_timeout_s: float = 10.0,
    ) -> None:
        self.sink: EventSink = sink if sink is not None else NullSink()
        self.enabled = not isinstance(self.sink, NullSink)
        self._progress = progress
        self.every_s, self.tick_s, self.query_timeout_s = every_s, tick_s, query_timeout_s
        self._live: dict[str, _Live] = {}  # attempts started (or seen answered) and not yet ended
        self._dirty: set[int] = set()
        self._last: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    # -- attempts (the engine) ----------------------------------------------------------
    def started(self, plan: PlanLike) -> None:
        """The Originate is being sent."""
        if not self.enabled:
            return
        self._live[plan.attempt_id] = _Live(plan.campaign_id, started=time.monotonic())
        self._emit("started", plan.attempt_id, plan.campaign_id, contact_id=plan.contact_id,
                   external_id=plan.external_id, number=mask_number(plan.number))  # fmt: skip

    def answered(self, call: CallLike) -> None:
        if not self.enabled:
            return
        live = self._live.setdefault(call.attempt_id, _Live(call.campaign_id))
        live.answered = time.monotonic()
        ring = None if live.started is None else round(live.answered - live.started, 3)
        self._emit("answered", call.attempt_id, call.campaign_id, ring_s=ring)

    def amd(self, call: CallLike) -> None:
        if self.enabled:
            self._emit("amd", call.attempt_id, call.campaign_id, result=call.amd_status, cause=call.amd_cause)

    def ended(self, ending: EndingLike, campaign_id: int | None = None) -> None:
        if not self.enabled:
            return
        live = self._live.pop(ending.attempt_id, None)
        cid = campaign_id if campaign_id is not None else live.campaign_id if live else None
        if cid is None:
            log.debug("attempt %s: ended event skipped (campaign unknown)", ending.attempt_id)
            return
        now = time.monotonic()
        self._emit("ended", ending.attempt_id, cid, result=ending.what, dial_result=_value(ending.dial_result),
                   outcome=_value(ending.outcome), reason=ending.reason, step_reached=ending.step,
                   cause=ending.cause,
                   duration_s=round(now - live.started, 3) if live and live.started is not None else None,
                   talk_s=round(now - live.answered, 3) if live and live.answered is not None else None)  # fmt: skip

    # -- attempts (the IVR) -------------------------------------------------------------
    def ivr_step(self, attempt_id: str, step: str, key: str | None = None, campaign_id: int | None = None) -> None:
        """A flow step reached, with the menu key pressed if any. Only one DTMF key is ever
        published: identity digits, amounts and other entries never are (pass key=None)."""
        extra: dict[str, Any] = {"step": step}
        if key is not None and len(key) == 1 and key in DTMF_KEYS:
            extra["key"] = key
        self._attempt_event("ivr_step", attempt_id, campaign_id, extra)

    def transferred(self, attempt_id: str, queue: str, agent_answered: bool, queue_wait_s: float | None,
                    campaign_id: int | None = None) -> None:  # fmt: skip
        extra = {"queue": queue, "agent_answered": agent_answered,
                 "queue_wait_s": None if queue_wait_s is None else round(queue_wait_s, 3)}  # fmt: skip
        self._attempt_event("transferred", attempt_id, campaign_id, extra)

    def _attempt_event(self, kind: str, attempt_id: str, campaign_id: int | None, extra: dict[str, Any]) -> None:
        if not self.enabled:
            return
        live = self._live.get(attempt_id)
        cid = campaign_id if campaign_id is not None else live.campaign_id if live else None
        if cid is None:
            log.debug("attempt %s: %s event skipped (campaign unknown)", attempt_id, kind)
            return
        self._emit(kind, attempt_id, cid, **extra)

    def _emit(self, kind: str, attempt_id: str, campaign_id: int, **fields: Any) -> None:
        self.sink.publish(kind, {"attempt_id": attempt_id, "campaign_id": campaign_id, **fields})
        if kind in ("started", "ended"):
            self.touch(campaign_id)

    # -- campaign progress --------------------------------------------------------------
    def touch(self, campaign_id: int) -> None:
        """Something changed in this campaign: publish its progress soon (rate-limited)."""
        if not self.enabled or self._progress is None:
            return
        self._dirty.add(campaign_id)
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._progress_loop(), name="live-progress")
            except RuntimeError:  # no event loop (a synchronous caller): published at stop()
                pass

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            for cid in [c for c in self._dirty if now - self._last.get(c, -self.every_s) >= self.every_s]:
                await self._publish_progress(cid)

    async def _publish_progress(self, campaign_id: int) -> None:
        assert self._progress is not None
        self._dirty.discard(campaign_id)
        self._last[campaign_id] = time.monotonic()
        try:
            found = await asyncio.wait_for(self._progress(campaign_id), self.query_timeout_s)
        except Exception as exc:  # noqa: BLE001 - progress is best effort; the next change retries
            log.warning("campaign %s: progress query failed: %s", campaign_id, exc)
            self._dirty.add(campaign_id)
            return
        counts = dict(found.get("counts", {}))
        live = sum(1 for a in self._live.values() if a.campaign_id == campaign_id)
        self.sink.publish(PROGRESS, {"campaign_id": campaign_id, "counts": counts, "ended": sum(counts.values()),
                                     "live_calls": live, "pending_contacts": found.get("pending_contacts")})  # fmt: skip

    async def stop(self) -> None:
        """Stop the progress task and publish the last progress of every changed campaign."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for cid in sorted(self._dirty):
            await self._publish_progress(cid)
        self._dirty.clear()  # a failed last query is not retried
