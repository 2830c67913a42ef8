"""The queue pacing rule (pure: numbers in, a limit out) and the abandonment guard that tunes it.

A campaign whose flow can transfer may have at most

    live <= in_queue + floor( max(0, boost * A - W) / p )        (and never above its cap)

calls live, where
    A = free agents + sum over busy agents of 1 - exp(-(elapsed_i + h) / T)
        (agents free now, and those likely to be free by the time a new call reaches the queue),
    h = ring time + answer-to-transfer time (how long a call takes from Originate to the queue),
    T = mean talk time (measured from AgentComplete; a prior until there is one),
    W = callers already waiting in the queue,
    p = the chance a dialled call ends up asking for an agent (measured, with a prior),
    in_queue = this campaign's calls already in the queue or with an agent (live, past the rule),
    boost = the abandonment guard's factor (AbandonGuard), below 1 after abandons, above 1 while
        callers reach agents quickly and the rate is under the target.
Paused agents (QueuePause, wrap-up) count for nothing. Several campaigns on one queue share A.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_ELAPSED_S = 3600.0


@dataclass(frozen=True)
class Agents:
    """The queue as the watcher sees it now."""

    free: int  # logged in, not paused, not in a call
    busy_elapsed_s: tuple[float, ...]  # each busy (talking) agent: seconds since its call began
    waiting: int  # callers waiting in the queue
    talk_s: float  # mean talk time


def expected_free(agents: Agents, horizon_s: float) -> float:
    """A: agents free now plus each busy agent's chance to be free within `horizon_s`."""
    talk = max(agents.talk_s, 1.0)
    soon = sum(1 - math.exp(-(min(e, MAX_ELAPSED_S) + horizon_s) / talk) for e in agents.busy_elapsed_s)
    return agents.free + soon


def live_limit(agents: Agents, *, cap: int, in_queue: int, p_transfer: float, horizon_s: float,
               boost: float = 1.0, share: int = 1) -> int:  # fmt: skip
    """How many calls the campaign may have live (see the module's docstring); `share`: how many
    paced campaigns split this queue's agents."""
    if p_transfer <= 0:
        return cap
    room = boost * expected_free(agents, horizon_s) / max(1, share) - agents.waiting
    before_queue = math.floor(max(0.0, room) / p_transfer + 1e-9)
    return max(0, min(cap, in_queue + before_queue))


@dataclass
class Estimate:
    """A mean with a prior worth `weight` observations."""

    prior: float
    weight: float = 5.0
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float:
        return (self.prior * self.weight + self.total) / (self.weight + self.count)


@dataclass
class Ratio:
    """A share (hits / trials) with a prior worth `weight` trials."""

    prior: float
    weight: float = 10.0
    hits: int = 0
    trials: int = 0

    @property
    def value(self) -> float:
        return (self.prior * self.weight + self.hits) / (self.weight + self.trials)


@dataclass
class AbandonGuard:
    """Keeps a campaign's abandonment under `target` (a share: 0.03 = 3%) by tuning `boost`.

    Each abandon cuts the boost by `cut` (at once: the next calls see it); each caller who reached
    an agent within `quick_s` raises it by `step` while the rate (its 30-day history included) is
    under the target; at or over the target the boost stays at most `over_target`."""

    target: float = 0.03
    requests: int = 0  # transfer requests (history of the last 30 days included)
    abandoned: int = 0
    boost: float = 1.0
    low: float = 0.3
    high: float = 1.6
    cut: float = 0.7
    step: float = 0.05
    quick_s: float = 5.0
    over_target: float = 0.8

    @property
    def rate(self) -> float:
        return self.abandoned / self.requests if self.requests else 0.0

    def reached(self, wait_s: float) -> None:
        self.requests += 1
        if self.rate < self.target and wait_s <= self.quick_s:
            self.boost = min(self.high, self.boost + self.step)
        self._hold()

    def abandon(self) -> None:
        self.requests += 1
        self.abandoned += 1
        self.boost = max(self.low, self.boost * self.cut)
        self._hold()

    def _hold(self) -> None:
        if self.rate >= self.target:
            self.boost = max(self.low, min(self.boost, self.over_target))
