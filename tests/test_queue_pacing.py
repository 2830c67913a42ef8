"""The queue pacing rule and the abandonment guard (pure), and the queue watcher fed recorded
AMI events (no Asterisk: the real-Asterisk proofs are in test_queue_asterisk.py)."""

from __future__ import annotations

import math

import pytest

from dialer.engine.pacing import Slots
from dialer.engine.queue_pacing import AbandonGuard, Agents, Estimate, Ratio, expected_free, live_limit
from dialer.engine.queue_watch import QueueWatch
from dialer.engine.tracker import CallTracker, LiveCall


def test_expected_free_counts_busy_agents_by_their_chance_to_be_free_soon() -> None:
    agents = Agents(free=1, busy_elapsed_s=(0.0, 20.0), waiting=0, talk_s=25.0)
    want = 1 + (1 - math.exp(-10 / 25)) + (1 - math.exp(-30 / 25))
    assert expected_free(agents, horizon_s=10) == pytest.approx(want)


def test_the_limit_fits_the_expected_transfers_to_the_agents() -> None:
    agents = Agents(free=3, busy_elapsed_s=(), waiting=0, talk_s=25.0)
    # 3 agents free, half the calls ask for one: 6 calls before the queue, plus the 2 already in it
    assert live_limit(agents, cap=20, in_queue=2, p_transfer=0.5, horizon_s=10) == 8
    # callers already waiting take agents first
    waiting = Agents(free=3, busy_elapsed_s=(), waiting=2, talk_s=25.0)
    assert live_limit(waiting, cap=20, in_queue=2, p_transfer=0.5, horizon_s=10) == 4
    # more callers waiting than agents: nothing new leaves, calls in the queue stay counted
    jam = Agents(free=1, busy_elapsed_s=(), waiting=3, talk_s=25.0)
    assert live_limit(jam, cap=20, in_queue=3, p_transfer=0.5, horizon_s=10) == 3


def test_the_cap_stays_the_upper_bound_and_no_transfers_means_the_cap() -> None:
    many = Agents(free=50, busy_elapsed_s=(), waiting=0, talk_s=25.0)
    assert live_limit(many, cap=20, in_queue=0, p_transfer=0.5, horizon_s=10) == 20
    none = Agents(free=0, busy_elapsed_s=(), waiting=0, talk_s=25.0)
    assert live_limit(none, cap=20, in_queue=0, p_transfer=0.0, horizon_s=10) == 20
    assert live_limit(none, cap=20, in_queue=0, p_transfer=0.5, horizon_s=10) == 0


def test_campaigns_on_one_queue_share_its_agents_and_boost_scales_them() -> None:
    agents = Agents(free=4, busy_elapsed_s=(), waiting=0, talk_s=25.0)
    assert live_limit(agents, cap=50, in_queue=0, p_transfer=0.5, horizon_s=10, share=2) == 4
    assert live_limit(agents, cap=50, in_queue=0, p_transfer=0.5, horizon_s=10, boost=0.5) == 4
    assert live_limit(agents, cap=50, in_queue=0, p_transfer=0.5, horizon_s=10, boost=1.5) == 12


def test_estimates_start_at_their_prior_and_follow_what_is_measured() -> None:
    lead = Estimate(prior=20.0, weight=5)
    assert lead.value == 20.0
    for _ in range(95):
        lead.add(10.0)
    assert lead.value == pytest.approx(10.5)
    p = Ratio(prior=0.3, weight=10)
    p.trials, p.hits = 90, 45
    assert p.value == pytest.approx((3 + 45) / 100)


def test_the_guard_cuts_the_boost_on_abandons_and_holds_it_over_the_target() -> None:
    guard = AbandonGuard(target=0.03)
    for _ in range(10):
        guard.reached(wait_s=1.0)
    assert guard.boost == pytest.approx(1.5)
    guard.abandon()  # 1 of 11: over 3%
    assert guard.rate == pytest.approx(1 / 11)
    assert guard.boost <= guard.over_target
    for _ in range(20):  # still over the target: no raise
        guard.reached(wait_s=1.0)
    assert guard.boost <= guard.over_target
    for _ in range(30):  # 1 of 61: under the target again, quick answers raise it
        guard.reached(wait_s=1.0)
    assert guard.rate < 0.03 and guard.boost > guard.over_target
    slow = AbandonGuard(target=0.03)
    slow.reached(wait_s=30.0)  # a long wait does not raise the pace
    assert slow.boost == 1.0


def test_the_guard_starts_from_the_campaigns_30_day_history() -> None:
    guard = AbandonGuard(target=0.03, requests=100, abandoned=5)
    guard.reached(wait_s=0.0)
    assert guard.boost <= guard.over_target


class _Ami:
    connected = True


def _watch(cap: int = 20) -> tuple[QueueWatch, Slots, CallTracker, list[float]]:
    now = [1000.0]
    tracker = CallTracker()
    watch = QueueWatch(_Ami(), tracker, clock=lambda: now[0])  # type: ignore[arg-type]
    slots = Slots(cap)
    watch.pace(7, "floor1", cap, slots, {"transfer": {"probability": 0.5, "answer_to_transfer_s": 10}})
    return watch, slots, tracker, now


def _member(n: int, **fields: str) -> dict[str, str]:
    return {"Event": "QueueMemberStatus", "Queue": "floor1", "Interface": f"Local/8{n}0406@sim-agents/n",
            "MemberName": f"sim-agent-{n}", "Status": "1", "Paused": "0", "InCall": "0", **fields}


def test_nothing_leaves_before_the_queue_is_known() -> None:
    watch, slots, _tracker, _now = _watch()
    assert slots.limit == 0
    watch.queues["floor1"].known = True
    watch.apply()
    assert slots.limit == 0  # known, but no agents


def test_agents_free_paused_and_busy_move_the_limit() -> None:
    watch, slots, tracker, now = _watch()
    watch.queues["floor1"].known = True
    for n in (1, 2, 3):
        watch.feed(_member(n))
    assert slots.limit == 6  # 3 free / 0.5
    watch.feed({**_member(3, Paused="1"), "Event": "QueueMemberPause"})
    assert slots.limit == 4  # a paused agent reduces the pace
    call = tracker.track(LiveCall("a1", 7, 70))
    watch.feed({"Event": "QueueCallerJoin", "Queue": "floor1", "Uniqueid": "a1", "Position": "1"})
    assert watch.campaigns[7].queued == {"a1"}
    assert slots.limit == 1 + math.floor((2 - 1) / 0.5)  # in the queue + room left by the waiting caller
    screens: list[str] = []
    watch.on_connect = lambda c, e: screens.append(str(e.get("Interface")))
    watch.feed({"Event": "QueueCallerLeave", "Queue": "floor1", "Uniqueid": "a1"})
    watch.feed({"Event": "AgentConnect", "Queue": "floor1", "Uniqueid": "a1", "HoldTime": "2",
                "Interface": "Local/810406@sim-agents/n", "MemberName": "sim-agent-1"})
    assert screens == ["Local/810406@sim-agents/n"]
    assert watch.campaigns[7].guard.requests == 1 and watch.campaigns[7].guard.abandoned == 0
    agents = watch.agents("floor1")
    assert agents.free == 1 and len(agents.busy_elapsed_s) == 1
    now[0] += 100  # a long call: its agent is likely free soon
    assert expected_free(watch.agents("floor1"), 15) > 1.8  # prior talk 60 s
    watch.feed({"Event": "AgentComplete", "Queue": "floor1", "Uniqueid": "a1", "TalkTime": "5",
                "Interface": "Local/810406@sim-agents/n"})
    assert watch.queues["floor1"].talk.count == 1
    watch.call_over(call)
    assert watch.campaigns[7].p_transfer.trials == 1 and watch.campaigns[7].p_transfer.hits == 1


def test_an_abandon_from_the_ivr_counts_once_and_slows_the_pace() -> None:
    watch, slots, tracker, _now = _watch()
    watch.queues["floor1"].known = True
    for n in (1, 2):
        watch.feed(_member(n))
    before = slots.limit
    tracker.track(LiveCall("a2", 7, 71))
    watch.feed({"Event": "QueueCallerJoin", "Queue": "floor1", "Uniqueid": "a2"})
    watch.feed({"Event": "QueueCallerAbandon", "Queue": "floor1", "Uniqueid": "a2"})
    watch.transfer_done("a2", 7, agent_answered=False)
    watch.transfer_done("a2", 7, agent_answered=False)
    guard = watch.campaigns[7].guard
    assert (guard.requests, guard.abandoned) == (1, 1)
    assert slots.limit < before
