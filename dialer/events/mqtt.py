"""MqttPublisher: the EventSink that sends to an MQTT broker (aiomqtt 2), QoS 1, from a bounded buffer.

publish() never awaits and never raises. One task sends the buffer in order, a window at a
time, and reconnects with backoff; when the buffer is full the oldest event is dropped and
counted. Delivery is at least once: events not acknowledged when the link broke go again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import aiomqtt

from dialer.config import MqttSettings
from dialer.events.sink import PROGRESS, topic_for, utc_now_iso
from dialer.runtime import metrics

log = logging.getLogger(__name__)


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
        metrics.MQTT_DROPPED.inc()
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
            delivered = self.delivered
            try:
                await self._session()
                continue  # it returns only when closing with nothing left to send
            except Exception as exc:  # noqa: BLE001 - whatever happens, the publisher must go on
                if not isinstance(exc, (aiomqtt.MqttError, OSError, TimeoutError)):
                    log.exception("MQTT publisher: unexpected error; reconnecting")
                self._outage(exc)
            if self.delivered > delivered:  # the link worked for a while: start the backoff again
                delay = self.reconnect_min_s
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    async def _session(self) -> None:
        """One connection: send until closing and empty, or until the link fails (raises)."""
        client = self._client()
        try:
            await asyncio.wait_for(client.__aenter__(), self.timeout_s)
        except BaseException:
            _retrieve_disconnect_error(client)
            raise
        self._up()
        try:
            await self._send_all(client)
        finally:
            self._requeue()
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

    def _requeue(self) -> None:
        """Put the unacknowledged events back at the head (in order); trim to the bound."""
        self._queue.extendleft(reversed(self._inflight))
        self._inflight = []
        while len(self._queue) > self.max_buffer:
            self._queue.popleft()
            self._drop()

    def _outage(self, exc: BaseException) -> None:
        self.connected = False
        if self._down_since is None:
            self._down_since = time.monotonic()
            why = str(exc) or type(exc).__name__
            log.warning("MQTT broker %s unavailable (%s): dialing goes on; up to %d events are kept, "
                        "retrying with backoff", self.where, why, self.max_buffer)  # fmt: skip
        else:
            log.debug("MQTT broker %s still unavailable: %s", self.where, exc)

    def _up(self) -> None:
        self.connected = True
        self._full_warned = False
        drops, self._outage_drops = self._outage_drops, 0  # dropped since the last connection
        if self._down_since is None:
            log.info("MQTT: connected to %s as %s", self.where, self.settings.client_id)
            return
        away = time.monotonic() - self._down_since
        log.log(logging.WARNING if drops else logging.INFO, "MQTT broker %s back after %.1f s: %d events "
                "dropped meanwhile, %d to send", self.where, away, drops, self.buffered)  # fmt: skip
        self._down_since = None


def _retrieve_disconnect_error(client: aiomqtt.Client) -> None:
    """aiomqtt 2 leaves an unexpected disconnection's error in a future nobody reads, which asyncio
    reports as "Future exception was never retrieved" when it is collected: read it (it was logged)."""
    future = getattr(client, "_disconnected", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()
