"""Pacing (token bucket, slots) and the dial-result table, without Asterisk."""

from __future__ import annotations

import asyncio

import pytest

from dialer.engine.results import dial_result
from dialer.domain import DialResult
from dialer.engine.pacing import Slots, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_rate_per_second_after_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=5, burst=1, clock=clock)
    assert bucket.take() and not bucket.take()
    assert bucket.wait_time() == pytest.approx(0.2)
    taken = 0
    for _ in range(100):  # 10 simulated seconds in 0.1 s steps
        clock.now += 0.1
        taken += bucket.take()
    assert taken == 50


async def test_slots_never_exceed_the_limit_and_wake_waiters() -> None:
    slots = Slots(2)
    assert slots.try_acquire() and slots.try_acquire() and not slots.try_acquire()
    waiter = asyncio.create_task(slots.acquire(timeout=1.0))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slots.release()
    assert await waiter and slots.used == 2
    assert not await slots.acquire(timeout=0.05)
    slots.release()
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()


@pytest.mark.parametrize(
    ("reason", "cause", "expected"),
    [
        (5, 0, DialResult.BUSY),  # Local channel busy: Reason only
        (5, 17, DialResult.BUSY),
        (8, 0, DialResult.CONGESTION),
        (3, 19, DialResult.NO_ANSWER),  # rang out
        (0, 1, DialResult.INVALID_NUMBER),  # unallocated
        (1, 28, DialResult.INVALID_NUMBER),
        (1, 17, DialResult.BUSY),
        (1, 34, DialResult.CONGESTION),
        (1, 21, DialResult.NO_ANSWER),  # hung up before answer, cause not in the table
        (0, None, DialResult.FAILED),
        (0, 21, DialResult.FAILED),
    ],
)
def test_dial_result_table(reason: int, cause: int | None, expected: DialResult) -> None:
    assert dial_result(reason, cause) is expected
