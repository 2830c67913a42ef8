"""Carrier pressure on a fake clock: AIMD halving on refusals (once per hold), additive recovery,
an unlimited trunk backing off from the rate it really sent, and the campaign/trunk pacing together."""

from __future__ import annotations

import pytest

from dialer.engine.pacing import Slots, TokenBucket, take_more
from dialer.engine.pressure import HOLD_S, MIN_RATE, TrunkPace


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sent_in(pace: TrunkPace, clock: Clock, seconds: float, step: float = 0.01) -> int:
    """Calls the pace lets out in `seconds` of a caller that always wants one."""
    sent = 0
    end = clock.now + seconds
    while clock.now < end:
        if pace.take():
            sent += 1
        clock.now += step
    return sent


def test_refusals_halve_the_rate_once_per_hold_and_seconds_without_refusal_add_a_step() -> None:
    clock = Clock()
    pace = TrunkPace("PJSIP/{number}@carrier", limit=8.0, clock=clock)
    assert 7 <= sent_in(pace, clock, 1.0) <= 9
    pace.refused()
    pace.refused()  # the same burst: one signal
    assert pace.rate == 4.0 and pace.refusals == 2
    clock.now += HOLD_S
    pace.refused()
    assert pace.rate == 2.0
    assert 1 <= sent_in(pace, clock, 0.99) <= 3
    rates = []
    for _ in range(10):
        clock.now += 1.0
        pace.took()
        rates.append(pace.rate)
    assert rates[:3] == pytest.approx([2.8, 3.6, 4.4])  # + a tenth of the ceiling each second
    assert rates[-1] == 8.0 and pace.history[-1][1:] == (8.0, "recovered")


def test_an_unlimited_trunk_backs_off_from_what_it_sent_and_is_unlimited_again_after() -> None:
    clock = Clock()
    pace = TrunkPace("t", limit=None, clock=clock)
    assert sent_in(pace, clock, 2.0, step=0.1) == 20  # 10 calls/s, nothing holds them
    pace.refused()
    assert pace.rate == pytest.approx(5.0, abs=0.3) and pace.ceiling == pytest.approx(10.0, abs=0.6)
    for _ in range(20):
        clock.now += 1.0
        pace.took()
    assert pace.rate is None and pace.ceiling is None  # the limit is lifted again


def test_the_rate_never_drops_below_the_floor() -> None:
    clock = Clock()
    pace = TrunkPace("t", limit=1.0, clock=clock)
    for _ in range(10):
        clock.now += HOLD_S
        pace.refused()
    assert pace.rate == MIN_RATE


def test_take_more_holds_a_call_back_when_the_trunk_rate_is_spent() -> None:
    clock = Clock()
    pace = TrunkPace("t", limit=1.0, clock=clock)
    slots, trunk = Slots(10), Slots(10)
    bucket = TokenBucket(100.0, burst=10.0, clock=clock)
    assert take_more(slots, trunk, bucket, 5, pace) == 1  # the trunk allows one now
    assert (slots.used, trunk.used) == (1, 1)
    assert bucket.take()  # the campaign's tokens were not spent on calls that could not go
