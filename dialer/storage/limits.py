"""Limits that hold across every dialer host, decided inside the claim's own transaction.

A claim locks its campaign's row (and its named trunk's) with SELECT ... FOR UPDATE, so claims
of one campaign take turns across hosts; under the lock it counts the live attempts of the
campaign (and of the trunk) over all nodes, and takes tokens from a calls/s bucket kept in the
same row. The count is the truth in SQL, so a host that joins starts with what is left and a
host that leaves gives its share back as soon as its calls end (or are resolved): no leases to
expire. SQLite has no row locks and its driver starts a transaction only at the first write, so
there the claim begins with a no-op UPDATE of the campaign row: the database's single write lock,
taken before anything is counted, gives the same order.

The bucket holds at most a fifth of a second's calls (at least one), so any one-second window
sees at most calls_per_second plus that burst.

Fair shares: the host whose call just ended claims again at once, while the others only poll, so
without a rule one host would keep every slot of a busy campaign. A host that wants calls and
finds no room (the campaign's cap or its share, the trunk, the calls/s) writes a `claim_wait` row; while any other host's row
is fresh (WAIT_S), each host keeps to ceil(cap / hosts wanting): the one over its share takes
nothing until its calls end, and the waiting one gets the slots they free. With no one waiting
the whole cap is anyone's, so a host alone (or the only one with work) is not held back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialer.domain import AttemptState, Direction
from dialer.storage.models import Attempt, Campaign, ClaimWait, Trunk

LIVE = (AttemptState.CREATED, AttemptState.ORIGINATING, AttemptState.ANSWERED)
BURST_S = 0.2
JUMP_S = 1.0  # a bucket clock further ahead than this was written by a host whose clock jumped
WAIT_S = 2.0  # a host that found no room this recently still wants its share


@dataclass
class Bucket:
    """A calls/s bucket whose state lives in a locked row (campaign or trunk)."""

    row: Campaign | Trunk
    rate: float
    tokens: float

    @classmethod
    def refilled(cls, row: Campaign | Trunk, rate: float, now: datetime) -> Bucket:
        burst = max(1.0, rate * BURST_S)
        if row.rate_at is None:
            return cls(row, rate, burst)
        if row.rate_at - now > timedelta(seconds=JUMP_S):  # written by a clock that jumped ahead: from now on,
            row.rate_at = now  # or the bucket would not refill until real time caught up with it
        elapsed = max(0.0, (now - row.rate_at).total_seconds())
        return cls(row, rate, min(burst, row.rate_tokens + elapsed * rate))

    def take(self, count: int, now: datetime) -> None:
        """Spend `count`; the refill clock never goes back (a claim whose `now` was read before another
        host's claim took the lock would otherwise be refilled twice for the same time)."""
        self.row.rate_tokens = self.tokens - count
        self.row.rate_at = now if self.row.rate_at is None else max(self.row.rate_at, now)


@dataclass
class Room:
    """How many attempts this claim may commit, and the buckets to charge for them."""

    calls: int
    buckets: list[Bucket]
    why: str = ""  # what holds it back, when calls is 0

    def charge(self, count: int, now: datetime) -> None:
        for bucket in self.buckets:
            bucket.take(count, now)


def _live(s: Session, *where: object) -> int:
    # return calls (inbound) arrive on the DID: they take no outbound slot
    return s.scalar(select(func.count()).select_from(Attempt).where(Attempt.state.in_(LIVE),
                                                                    Attempt.direction == Direction.OUTBOUND,
                                                                    *where)) or 0  # fmt: skip


def room(s: Session, campaign_id: int, now: datetime, wanted: int, node: str = "") -> tuple[Campaign | None, Room]:
    """Lock the campaign (and its trunk) and say how many calls may leave now from `node`."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(update(Campaign).where(Campaign.id == campaign_id).values(rate_at=Campaign.rate_at))
    campaign = s.scalars(select(Campaign).where(Campaign.id == campaign_id).with_for_update()).one_or_none()
    if campaign is None:
        return None, Room(0, [], "no such campaign")
    calls = min(wanted, campaign.max_concurrent - _live(s, Attempt.campaign_id == campaign_id))
    why = f"campaign {campaign.name}: {campaign.max_concurrent} calls live" if calls <= 0 else ""
    if node:
        calls, why = _fair_share(s, campaign, node, now, calls, why)
    buckets = [Bucket.refilled(campaign, campaign.calls_per_second, now)]
    if campaign.trunk_name:
        trunk = s.scalars(select(Trunk).where(Trunk.name == campaign.trunk_name).with_for_update()).one_or_none()
        if trunk is None:
            return campaign, Room(0, [], f"campaign {campaign.name}: trunk {campaign.trunk_name!r} does not exist")
        trunk_free = trunk.max_concurrent - _live(s, Attempt.trunk == trunk.name)
        if trunk_free < calls:
            calls, why = trunk_free, why or f"trunk {trunk.name}: {trunk.max_concurrent} calls live"
        buckets.append(Bucket.refilled(trunk, trunk.calls_per_second, now))
    tokens = int(min(b.tokens for b in buckets))
    if tokens < calls:
        calls, why = tokens, why or "calls per second"
    if node and calls <= 0 < wanted:
        _note_wait(s, campaign, node, now)
    return campaign, Room(max(0, calls), buckets, why)


def _fair_share(s: Session, campaign: Campaign, node: str, now: datetime, calls: int, why: str) -> tuple[int, str]:
    """Keep `node` to its share of the cap while other hosts wait for room; note its own wait."""
    others = s.scalar(select(func.count()).select_from(ClaimWait).where(
        ClaimWait.campaign_id == campaign.id, ClaimWait.node != node, ClaimWait.at >= now - timedelta(seconds=WAIT_S)))
    if others:
        share = ceil(campaign.max_concurrent / (others + 1))
        left = share - _live(s, Attempt.campaign_id == campaign.id, Attempt.node == node)
        if left < calls:
            calls = max(0, left)
            why = why or f"campaign {campaign.name}: this host's share ({share} of {campaign.max_concurrent}) live"
    return calls, why


def _note_wait(s: Session, campaign: Campaign, node: str, now: datetime) -> None:
    """`node` wanted calls and got none (the cap, its share, the trunk or the calls/s): it waits."""
    wait = s.get(ClaimWait, (campaign.id, node))
    if wait is None:
        s.add(ClaimWait(campaign_id=campaign.id, node=node, at=now))
    else:
        wait.at = now


def trunk_of(campaign: Campaign) -> str:
    """What an attempt records as its trunk: the trunk's name, else the template's text."""
    return campaign.trunk_name or campaign.trunk_template


def template_of(s: Session, campaign: Campaign) -> str:
    """The channel template its calls use: its named trunk's, else its own."""
    if campaign.trunk_name:
        trunk = s.get(Trunk, campaign.trunk_name)
        if trunk is not None:
            return trunk.template
    return campaign.trunk_template
