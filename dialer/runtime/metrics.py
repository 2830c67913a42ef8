"""The dialer's Prometheus metrics: one registry the engine, the IVR, storage and events write to,
and dialer.web serves at /metrics. A leaf like dialer.domain: it imports nothing of the dialer.

Names follow Prometheus conventions: the `dialer_` prefix, base units in names (`_seconds`),
`_total` on counters. Labels carry campaign and trunk names and result words only, never contact
data (numbers, names, amounts). Gauges that are read rather than counted (FastAGI sessions, the
audio preparation queue, the MQTT buffer) are set at scrape time from the callables the
composition root hands to `watch()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import PlatformCollector, ProcessCollector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ORIGINATES = Counter("dialer_originates_total", "Originate actions sent to Asterisk.",
                     ["campaign", "trunk"], registry=REGISTRY)  # fmt: skip
LIVE_CALLS = Gauge("dialer_live_calls", "Calls this daemon has live in Asterisk.", ["campaign", "trunk"],
                   registry=REGISTRY)  # fmt: skip
ENDINGS = Counter("dialer_attempt_endings_total", "Attempts ended, by dial result or connected outcome.",
                  ["campaign", "kind", "result"], registry=REGISTRY)  # fmt: skip
AMI_RECONNECTS = Counter("dialer_ami_reconnects_total", "AMI links redone after a disconnect.", registry=REGISTRY)
AMI_UP = Gauge("dialer_ami_up", "1 while the AMI link is up and resynced (originating allowed).", registry=REGISTRY)
LOOP_LAG = Histogram("dialer_event_loop_lag_seconds", "How late the event loop ran a timer.",
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                     registry=REGISTRY)  # fmt: skip
SQL_SECONDS = Histogram("dialer_sql_duration_seconds", "SQL jobs from submit to answer, per worker pool.",
                        ["worker"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                        registry=REGISTRY)  # fmt: skip
SQL_TIMEOUTS = Counter("dialer_sql_timeouts_total", "SQL jobs given up on after their deadline.", ["worker"],
                       registry=REGISTRY)  # fmt: skip
FASTAGI_SESSIONS = Counter("dialer_fastagi_sessions_total", "FastAGI connections accepted.", registry=REGISTRY)
FASTAGI_LIVE = Gauge("dialer_fastagi_sessions_open", "FastAGI sessions open now.", registry=REGISTRY)
AUDIO_QUEUE = Gauge("dialer_audio_prepare_queue", "Personal audio files waiting to be prepared.", registry=REGISTRY)
MQTT_DROPPED = Counter("dialer_mqtt_dropped_events_total", "Live events dropped because the MQTT buffer was full.",
                       registry=REGISTRY)  # fmt: skip
MQTT_BUFFERED = Gauge("dialer_mqtt_buffered_events", "Live events waiting for the MQTT broker.", registry=REGISTRY)
WEB_REQUESTS = Counter("dialer_web_requests_total", "HTTP requests served by the dashboard.", ["route", "code"],
                       registry=REGISTRY)  # fmt: skip

LAG_EVERY_S = 0.5


def watch(gauge: Gauge, read: Callable[[], float]) -> None:
    """Set `gauge` from `read()` at every scrape (a bug in `read` is logged and shows as NaN)."""

    def safe() -> float:
        try:
            return float(read())
        except Exception:  # noqa: BLE001 - a scrape never fails for one gauge
            log.exception("metric %s: reading failed", gauge._name)
            return float("nan")

    gauge.set_function(safe)


def exposition() -> bytes:
    """The text format Prometheus scrapes."""
    return generate_latest(REGISTRY)


async def watch_loop_lag(stop: asyncio.Event, every_s: float = LAG_EVERY_S) -> None:
    """Observe how late the loop wakes a timer of `every_s`, until `stop` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + every_s
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except asyncio.TimeoutError:
            LOOP_LAG.observe(max(0.0, loop.time() - due))


def timed_sql(worker: str, started: float, timed_out: bool = False) -> None:
    """One SQL job of `worker` answered (or given up on) `started` (time.monotonic()) ago."""
    if timed_out:
        SQL_TIMEOUTS.labels(worker).inc()
    else:
        SQL_SECONDS.labels(worker).observe(time.monotonic() - started)
