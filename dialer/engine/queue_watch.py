"""Queue pacing in the engine: the call-center queues followed over AMI (QueueStatus at start and
after each reconnect, then member and caller events) and the live-call limit of each campaign
whose flow can transfer (the rule: dialer.engine.queue_pacing), set on its slots. The campaign's
cap stays the upper bound. Also: who reached an agent or was abandoned (the guard), and the
agent's answer handed to `on_connect` (the screen-pop)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dialer.ami import AmiClient, AmiError
from dialer.engine.pacing import Slots
from dialer.engine.queue_pacing import AbandonGuard, Agents, Estimate, Ratio, live_limit
from dialer.engine.tracker import CallTracker, LiveCall
from dialer.ivr.flow import FlowError
from dialer.ivr.prerender import campaign_flow

log = logging.getLogger(__name__)

QUEUE_EVENTS = ["QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved",
                "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect", "AgentComplete"]  # fmt: skip
STATUS_TIMEOUT_S = 10.0
EVERY_S = 0.5  # limits follow the clock too: busy agents grow likelier to be free
FREE_STATES = {"0", "1", "6"}  # unknown, not in use, ringing (a ringing agent takes a waiting caller)
BUSY_STATES = {"2", "3", "7", "8"}  # in use, busy, ringing while in use, on hold
PRIOR_TALK_S, PRIOR_RING_S = 60.0, 5.0


@dataclass
class Member:
    interface: str
    name: str = ""
    status: str = "0"
    paused: bool = False
    in_call: bool = False
    busy_since: float | None = None

    @property
    def busy(self) -> bool:
        return self.in_call or self.status in BUSY_STATES

    @property
    def free(self) -> bool:
        return not self.paused and not self.busy and self.status in FREE_STATES


@dataclass
class QueueState:
    name: str
    members: dict[str, Member] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)  # caller's Uniqueid -> when it joined
    talk: Estimate = field(default_factory=lambda: Estimate(PRIOR_TALK_S, weight=3))
    known: bool = False  # a QueueStatus answer was read


@dataclass
class PacedCampaign:
    """What the rule needs of one campaign, measured as it dials (priors from its campaign file)."""

    campaign_id: int
    queue: str
    cap: int
    slots: Slots
    p_transfer: Ratio
    lead: Estimate  # answer -> queue, seconds
    ring: Estimate = field(default_factory=lambda: Estimate(PRIOR_RING_S))
    guard: AbandonGuard = field(default_factory=AbandonGuard)
    queued: set[str] = field(default_factory=set)  # its live calls in the queue or with an agent
    joined: set[str] = field(default_factory=set)  # its calls that asked for an agent (this run)
    settled: set[str] = field(default_factory=set)  # transfer requests already counted by the guard
    limit: int = 0

    @property
    def horizon_s(self) -> float:
        return self.ring.value + self.lead.value


def transfer_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return dict(settings.get("transfer") or {})


def paced_queue(flow: str, settings: Mapping[str, Any]) -> str | None:
    """The queue a campaign paces on: its flow's transfer step's (or [transfer] queue), unless
    the flow cannot transfer or the campaign says `pacing = "cap"`."""
    t = transfer_settings(settings)
    if t.get("pacing", "queue") != "queue":
        return None
    try:
        steps = [s for s in campaign_flow(flow, settings).steps.values() if s.type == "transfer"]
    except (FlowError, OSError) as exc:
        log.warning("flow %s: not read (%s); no queue pacing", flow, exc)
        return None
    if not steps:
        return None
    return str(steps[0].get("queue") or t.get("queue") or "collections")


class QueueWatch:
    def __init__(self, ami: AmiClient, tracker: CallTracker, clock: Callable[[], float] = time.monotonic,
                 on_connect: Callable[[LiveCall, Mapping[str, Any]], None] | None = None) -> None:  # fmt: skip
        self.ami = ami
        self.tracker = tracker
        self.clock = clock
        self.on_connect = on_connect
        self.queues: dict[str, QueueState] = {}
        self.campaigns: dict[int, PacedCampaign] = {}
        self._by_attempt: dict[str, str] = {}  # caller Uniqueid -> queue (while queued)

    # -- campaigns ------------------------------------------------------------------------
    def pace(self, campaign_id: int, queue: str, cap: int, slots: Slots, settings: Mapping[str, Any],
             history: tuple[int, int] = (0, 0)) -> PacedCampaign:  # fmt: skip
        """Pace a campaign on `queue`; `history`: its (transfer requests, abandoned) of the last 30 days."""
        t = transfer_settings(settings)
        target = float(t.get("abandon_target_pct", 3.0)) / 100
        paced = self.campaigns.get(campaign_id)
        if paced is None or paced.queue != queue:
            paced = PacedCampaign(campaign_id, queue, cap, slots, Ratio(float(t.get("probability", 0.3))),
                                  Estimate(float(t.get("answer_to_transfer_s", 20.0))),
                                  guard=AbandonGuard(target, requests=history[0], abandoned=history[1]))  # fmt: skip
            self.campaigns[campaign_id] = paced
        paced.cap, paced.slots = cap, slots
        self.queues.setdefault(queue, QueueState(queue))
        self.apply()
        return paced

    def unpace(self, campaign_id: int) -> None:
        self.campaigns.pop(campaign_id, None)

    def call_over(self, call: LiveCall) -> None:
        """A call of a paced campaign ended: one more trial for its transfer probability."""
        paced = self.campaigns.get(call.campaign_id)
        if paced is None:
            return
        paced.p_transfer.trials += 1
        if call.attempt_id in paced.joined:
            paced.p_transfer.hits += 1
            paced.joined.discard(call.attempt_id)
        paced.queued.discard(call.attempt_id)
        paced.settled.discard(call.attempt_id)

    def transfer_done(self, attempt_id: str, campaign_id: int, agent_answered: bool) -> None:
        """The IVR's word on a transfer request (reached an agent, or not within the limit, or
        the caller hung up while queued): abandoned unless an agent answered."""
        paced = self.campaigns.get(campaign_id)
        if paced is None or attempt_id in paced.settled:
            return
        paced.settled.add(attempt_id)
        paced.queued.discard(attempt_id)
        if agent_answered:
            paced.guard.reached(0.0)
        else:
            paced.guard.abandon()
            log.info("campaign %s: a caller was abandoned (%.1f%% of %d requests; boost %.2f)", campaign_id,
                     100 * paced.guard.rate, paced.guard.requests, paced.guard.boost)  # fmt: skip
        self.apply()

    # -- the queues -----------------------------------------------------------------------
    async def resync(self) -> None:
        """QueueStatus of every queue a paced campaign uses (at start and after a reconnect)."""
        for name in list(self.queues):
            await self.snapshot(name)

    async def snapshot(self, name: str) -> QueueState:
        found = await self.ami.action_list({"Action": "QueueStatus", "Queue": name}, timeout=STATUS_TIMEOUT_S)
        state = QueueState(name, talk=self.queues[name].talk if name in self.queues else QueueState(name).talk)
        now = self.clock()
        for e in found:
            kind = e.get("Event")
            if kind == "QueueMember":
                member = self._member_from(state, e)
                member.busy_since = now if member.busy else None
            elif kind == "QueueEntry":
                state.waiting[str(e.get("Uniqueid"))] = now - float(e.get("Wait") or 0)
        state.known = True
        self.queues[name] = state
        self.apply()
        log.info("queue %s: %d agents (%d free), %d callers waiting", name, len(state.members),
                 sum(m.free for m in state.members.values()), len(state.waiting))  # fmt: skip
        return state

    def feed(self, event: Mapping[str, Any]) -> None:
        name = str(event.get("Event"))
        state = self.queues.get(str(event.get("Queue")))
        if state is None:
            return
        uid = str(event.get("Uniqueid") or "")
        if name in ("QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded"):
            member = state.members.get(str(event.get("Interface")))
            was_busy = member is not None and member.busy
            member = self._member_from(state, event)
            if member.busy and not was_busy:
                member.busy_since = self.clock()
        elif name == "QueueMemberRemoved":
            state.members.pop(str(event.get("Interface")), None)
        elif name == "QueueCallerJoin":
            state.waiting[uid] = self.clock()
            self._joined(uid)
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            state.waiting.pop(uid, None)
        elif name == "AgentConnect":
            self._connected(state, uid, event)
        elif name == "AgentComplete":
            talk = _float(event.get("TalkTime"))
            if talk is not None:
                state.talk.add(talk)
        else:
            return
        self.apply()

    def _member_from(self, state: QueueState, e: Mapping[str, Any]) -> Member:
        interface = str(e.get("Interface") or e.get("Location") or e.get("StateInterface"))
        member = state.members.setdefault(interface, Member(interface))
        member.name = str(e.get("MemberName") or e.get("Name") or member.name)
        if e.get("Status") is not None:
            member.status = str(e.get("Status"))
        if e.get("Paused") is not None:
            member.paused = str(e.get("Paused")) == "1"
        if e.get("InCall") is not None:
            member.in_call = str(e.get("InCall")) == "1"
        if not member.busy:
            member.busy_since = None
        return member

    def _joined(self, uid: str) -> None:
        call = self.tracker.calls.get(uid)
        paced = self.campaigns.get(call.campaign_id) if call is not None else None
        if call is None or paced is None:
            return
        paced.queued.add(uid)
        paced.joined.add(uid)
        if call.answered_at is not None:
            paced.lead.add((datetime.now(UTC) - call.answered_at).total_seconds())
            paced.ring.add(max(0.0, (call.answered_at - call.born_at).total_seconds()))

    def _connected(self, state: QueueState, uid: str, event: Mapping[str, Any]) -> None:
        member = state.members.get(str(event.get("Interface")))
        if member is not None:
            member.in_call, member.busy_since = True, self.clock()
        call = self.tracker.calls.get(uid)
        if call is None:
            return
        paced = self.campaigns.get(call.campaign_id)
        if paced is not None and uid not in paced.settled:
            paced.settled.add(uid)
            paced.guard.reached(_float(event.get("HoldTime")) or 0.0)
        if self.on_connect is not None:
            self.on_connect(call, event)

    # -- the limits -----------------------------------------------------------------------
    def agents(self, queue: str) -> Agents:
        state = self.queues[queue]
        now = self.clock()
        members = [m for m in state.members.values() if not m.paused]
        busy = tuple(now - (m.busy_since or now) for m in members if m.busy)
        return Agents(free=sum(m.free for m in members), busy_elapsed_s=busy, waiting=len(state.waiting),
                      talk_s=state.talk.value)  # fmt: skip

    def apply(self) -> None:
        """Each paced campaign's limit from the rule, set on its slots (a raised limit wakes its loop)."""
        sharing: dict[str, int] = {}
        for paced in self.campaigns.values():
            sharing[paced.queue] = sharing.get(paced.queue, 0) + 1
        for paced in self.campaigns.values():
            state = self.queues.get(paced.queue)
            if state is None or not state.known:
                limit = 0  # no agents known yet: nothing leaves
            else:
                limit = live_limit(self.agents(paced.queue), cap=paced.cap, in_queue=len(paced.queued),
                                   p_transfer=paced.p_transfer.value, horizon_s=paced.horizon_s,
                                   boost=paced.guard.boost, share=sharing[paced.queue])  # fmt: skip
            if limit != paced.limit:
                log.debug("campaign %s: queue pacing limit %d -> %d", paced.campaign_id, paced.limit, limit)
            paced.limit = limit
            paced.slots.set_limit(limit)

    async def run(self) -> None:
        """Keep the limits current as time passes (events update them as they come)."""
        while True:
            await asyncio.sleep(EVERY_S)
            self.apply()
            for name, state in list(self.queues.items()):
                if not state.known and self.ami.connected:
                    try:
                        await self.snapshot(name)
                    except AmiError as exc:
                        log.warning("queue %s: QueueStatus failed (%s); trying again", name, exc)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
