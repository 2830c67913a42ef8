"""Carrier pressure: one trunk's calls per second, shared by every campaign on it, backing off
when the carrier refuses calls and recovering once it takes them again.

The rule is AIMD on the rate the trunk really sends:
- a refusal (SIP 503, "carrier overload") halves the rate, at most once per `hold_s` (a burst of
  refusals sent together is one signal); from an unlimited trunk it halves the rate measured
  over the last two seconds;
- every second without a refusal adds `step` calls/s (a tenth of the ceiling, at least 0.5),
  up to the ceiling: the configured calls/s, or for an unlimited trunk the rate it had when
  the carrier first refused (then the limit is lifted again).
Retry-After is not read: PJSIP exposes the headers of a 200 OK only (PJSIP_RESPONSE_HEADER), not
those of a 503, so the dialplan cannot hand it over; the halving and the one-second hold apply
to a 503 with or without it. No I/O here; the clock is injectable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from dialer.engine.pacing import TokenBucket

log = logging.getLogger(__name__)

DECREASE = 0.5
MIN_RATE = 0.2  # calls/s: a refusing carrier still sees a call every 5 s, so recovery is noticed
HOLD_S = 1.0
WINDOW_S = 2.0  # the measured rate a back-off from an unlimited trunk starts from


class TrunkPace:
    """The calls/s of one trunk: `limit` configured (None: unlimited until the carrier refuses)."""

    def __init__(self, name: str, limit: float | None = None, clock: Callable[[], float] = time.monotonic,
                 step: float | None = None) -> None:  # fmt: skip
        if limit is not None and limit <= 0:
            raise ValueError(f"trunk {name}: calls per second must be > 0, got {limit:g}")
        self.name = name
        self.limit = limit
        self.ceiling = limit
        self.rate: float | None = limit  # None: no limit now
        self._step = step
        self._clock = clock
        self.bucket = TokenBucket(limit or 1.0, burst=1.0, clock=clock)
        self._sent: deque[float] = deque()
        now = clock()
        self._changed = now
        self._refused_at = now - HOLD_S
        self.refusals = 0
        self.history: list[tuple[float, float | None, str]] = [(now, limit, "start")]  # (time, rate, why)

    @property
    def step(self) -> float:
        return self._step if self._step is not None else max(0.5, (self.ceiling or 0.0) / 10)

    def take(self) -> bool:
        """Take one call's place now, if the trunk's rate allows."""
        now = self._clock()
        self._recover(now)
        if self.rate is not None and not self.bucket.take():
            return False
        self._sent.append(now)
        while self._sent and self._sent[0] < now - WINDOW_S:
            self._sent.popleft()
        return True

    def wait_time(self) -> float:
        return 0.0 if self.rate is None else self.bucket.wait_time()

    async def acquire(self) -> None:
        while not self.take():
            await asyncio.sleep(min(max(self.wait_time(), 0.001), HOLD_S))

    def refused(self) -> None:
        """The carrier refused a call (overload)."""
        now = self._clock()
        self.refusals += 1
        if now - self._refused_at < HOLD_S:
            return
        self._refused_at = now
        base = self.rate if self.rate is not None else self.measured(now)
        if self.ceiling is None:
            self.ceiling = max(base, MIN_RATE)
        self._set(max(MIN_RATE, base * DECREASE), now, "carrier overload")

    def took(self) -> None:
        """The carrier took a call (any answer but overload)."""
        self._recover(self._clock())

    def measured(self, now: float) -> float:
        recent = [t for t in self._sent if t >= now - WINDOW_S]
        return len(recent) / WINDOW_S

    def _recover(self, now: float) -> None:
        if self.rate is None or self.ceiling is None:
            return
        seconds = now - max(self._changed, self._refused_at)
        if seconds < 1.0:
            return
        rate = self.rate + self.step * int(seconds)
        if rate >= self.ceiling:
            self._set(self.limit if self.limit is not None else None, now, "recovered")
            if self.limit is None:
                self.ceiling = None
        else:
            self._set(rate, now, "no refusal for a second")

    def _set(self, rate: float | None, now: float, why: str) -> None:
        if rate != self.rate:
            shown = "unlimited" if rate is None else f"{rate:.2f} calls/s"
            log.info("trunk %s: %s (%s)", self.name, shown, why)
            self.history.append((now, rate, why))
        self.rate = rate
        self._changed = now
        if rate is not None:
            self.bucket.set_rate(rate)
