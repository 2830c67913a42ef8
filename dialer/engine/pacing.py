"""How fast and how many: a calls-per-second token bucket and concurrency slots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

_EPSILON = 1e-9  # float steps of the clock must not lose a token


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per call."""

    def __init__(self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 calls per second")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def set_rate(self, rate: float) -> None:
        """A new rate from now on (tokens saved so far are kept)."""
        if rate <= 0:
            raise ValueError("rate must be > 0 calls per second")
        self._refill()
        self.rate = rate

    def wait_time(self) -> float:
        """Seconds until a token is there (0 if one is there now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 - _EPSILON else (1 - self._tokens) / self.rate

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return True
        return False

    async def acquire(self) -> None:
        while not self.take():
            await asyncio.sleep(self.wait_time())


class Slots:
    """At most `limit` holders at once; the count is what the dialer has live."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a concurrency limit must be >= 1")
        self.limit = limit
        self.used = 0
        self._freed = asyncio.Event()

    def try_acquire(self) -> bool:
        if self.used < self.limit:
            self.used += 1
            return True
        return False

    async def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most `timeout` seconds for one; False if none came free."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.try_acquire():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    def set_limit(self, limit: int) -> None:
        """A new limit (0 stops new calls: queue pacing); a raised one wakes a waiting acquire."""
        raised = limit > self.limit
        self.limit = max(0, limit)
        if raised:
            self._freed.set()

    def hold(self) -> None:
        """Count a call that is already live (found at resync), even past the limit."""
        self.used += 1

    def release(self) -> None:
        if self.used <= 0:
            raise RuntimeError("slot released twice")
        self.used -= 1
        self._freed.set()


class Pace(Protocol):
    def take(self) -> bool: ...

    def wait_time(self) -> float: ...


def take_more(slots: Slots, trunk: Slots, bucket: TokenBucket, limit: int, trunk_pace: Pace | None = None) -> int:
    """How many more calls may go out right now (up to `limit`): a campaign slot, a trunk slot,
    a token and a place in the trunk's calls/s each, all taken; what cannot be taken whole is put
    back."""
    more = 0
    while more < limit and slots.try_acquire():
        if not trunk.try_acquire():
            slots.release()
            break
        trunk_ready = trunk_pace is None or trunk_pace.wait_time() <= 0
        if not trunk_ready or not bucket.take() or (trunk_pace is not None and not trunk_pace.take()):
            slots.release()
            trunk.release()
            break
        more += 1
    return more
