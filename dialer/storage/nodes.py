"""Nodes: each dialer daemon's row (host, its Asterisk, version, live calls) and heartbeat, and what
another node does with the live attempts of one that stopped heartbeating.

A dead node's attempts are resolved only once its calls cannot still be up (created longer ago
than its campaign's ring timeout plus the maximum call time), or at once for the attempts its
Asterisk no longer has (the caller asked that Asterisk itself): they end `unknown` with the
reason, their people's guards are freed, and their contacts become claimable. Nothing is
dialled twice meanwhile: until then they count as live for every limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import Outcome
from dialer.storage.endings import Ending
from dialer.storage.limits import LIVE
from dialer.storage.models import Attempt, Campaign, Node

log = logging.getLogger(__name__)

# an attempt's Originate may leave this long after its claim (its audio prepared, up to 30 s; SQL and
# AMI waits), and the node's longest-call limit counts from the Originate's answer, not the claim
START_MARGIN_S = 120.0


@dataclass(frozen=True)
class NodeRow:
    name: str
    host: str
    asterisk: str
    version: str
    live_calls: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True)
class DeadNode:
    name: str
    asterisk: str
    heartbeat_at: datetime
    live: list[str]  # its attempts SQL still has as live
    host: str = ""  # the machine it ran on (its Asterisk's address may be a loopback one)


class Nodes:
    """Part of Repository: node rows, heartbeats and dead nodes' attempts."""

    sessions: sessionmaker[Session]
    node: str
    clock: Callable[[], datetime]

    if TYPE_CHECKING:
        def finish_many(self, endings: list[Ending]) -> None: ...  # storage.endings

    def heartbeat(self, host: str, asterisk: str, version: str, live_calls: int, started: bool = False) -> None:
        now = self.clock()
        with self.sessions.begin() as s:
            row = s.get(Node, self.node)
            if row is None:
                s.add(Node(name=self.node, host=host, asterisk=asterisk, version=version, live_calls=live_calls,
                           started_at=now, heartbeat_at=now))  # fmt: skip
                return
            row.host, row.asterisk, row.version, row.live_calls, row.heartbeat_at = host, asterisk, version, live_calls, now
            if started:
                row.started_at, row.stopped_at = now, None

    def node_stopped(self) -> None:
        with self.sessions.begin() as s:
            row = s.get(Node, self.node)
            if row is not None:
                row.stopped_at, row.live_calls = self.clock(), 0

    def nodes(self) -> list[NodeRow]:
        with self.sessions() as s:
            return [NodeRow(n.name, n.host, n.asterisk, n.version, n.live_calls, n.started_at, n.heartbeat_at,
                            n.stopped_at) for n in s.scalars(select(Node).order_by(Node.name))]  # fmt: skip

    def peers_with_live_attempts(self) -> list[DeadNode]:
        """The other nodes SQL still has live attempts of, with their last heartbeat stamp: the caller
        judges which are silent (engine.node.Silence). A clean stop drains its calls first, so a stopped
        node's leftovers are resolved the same way."""
        with self.sessions() as s:
            out = []
            for node in s.scalars(select(Node).where(Node.name != self.node)):
                live = list(s.scalars(select(Attempt.id).where(Attempt.node == node.name, Attempt.state.in_(LIVE))))
                if live:
                    out.append(DeadNode(node.name, node.asterisk, node.heartbeat_at, live, node.host))
            return out

    def resolve_dead(self, dead: DeadNode, max_call_s: float, gone: Iterable[str] = ()) -> int:
        """End the dead node's attempts that cannot still be up (by age), and those in `gone` (its
        Asterisk no longer has them); how many were ended."""
        now, gone = self.clock(), set(gone)
        with self.sessions() as s:
            rows = s.execute(select(Attempt.id, Attempt.created_at, Campaign.ring_timeout_s)
                             .join(Campaign, Campaign.id == Attempt.campaign_id)
                             .where(Attempt.id.in_(dead.live), Attempt.state.in_(LIVE))).all()  # fmt: skip
        endings = []
        for attempt_id, created_at, ring_timeout_s in rows:
            if attempt_id in gone:
                why = f"node {dead.name} stopped heartbeating at {dead.heartbeat_at:%H:%M:%S} UTC and its Asterisk no longer has the call"
            elif now - created_at > timedelta(seconds=ring_timeout_s + max_call_s + START_MARGIN_S):
                why = (f"node {dead.name} stopped heartbeating at {dead.heartbeat_at:%H:%M:%S} UTC; the call cannot "
                       f"still be up (ring timeout {ring_timeout_s} s + longest call {max_call_s:g} s "
                       f"+ {START_MARGIN_S:g} s passed)")  # fmt: skip
            else:
                continue
            endings.append(Ending(attempt_id, why, outcome=Outcome.UNKNOWN, details={"resolved_by": self.node}))
        if endings:
            self.finish_many(endings)
            log.warning("node %s is dead: %d of its attempts resolved (unknown), %d left to resolve later",
                        dead.name, len(endings), len(rows) - len(endings))  # fmt: skip
        return len(endings)
