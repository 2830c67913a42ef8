"""The operator's side of a campaign: create it from a file, move it between states, look it up.

States: draft -> (start) active <-> (pause / resume) paused; stop from draft, active or paused
-> stopped (final). The daemon marks an active campaign `finished` once every contact is
settled. The daemon re-reads states every second: start, pause and stop take effect within a
second; live calls are never hung up, they end on their own.
A transition is one conditional UPDATE (WHERE state IN the allowed states), so it never
overwrites a change the daemon made in between (e.g. active -> finished).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialer.campaigns.files import CampaignSpec
from dialer.domain import AttemptState, CampaignState, Disposition
from dialer.storage.models import Attempt, Campaign, Contact, Trunk

S = CampaignState
# command -> (the states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[tuple[CampaignState, ...], CampaignState]] = {
    "start": ((S.DRAFT,), S.ACTIVE),
    "pause": ((S.ACTIVE,), S.PAUSED),
    "resume": ((S.PAUSED,), S.ACTIVE),
    "stop": ((S.DRAFT, S.ACTIVE, S.PAUSED), S.STOPPED),
}
_WHY: dict[tuple[str, CampaignState], str] = {
    ("start", S.ACTIVE): "it is already active",
    ("start", S.PAUSED): "it is paused: use resume",
    ("pause", S.PAUSED): "it is already paused",
    ("pause", S.DRAFT): "it has not been started",
    ("resume", S.ACTIVE): "it is already active",
    ("resume", S.DRAFT): "it has not been started: use start",
}


class CampaignError(ValueError):
    """An operator request that cannot be done; the message says why."""


@dataclass(frozen=True)
class CampaignRow:
    name: str
    state: str
    flow: str
    language: str
    contacts: int
    pending: int
    attempts: int
    live: int
    created_at: datetime


def find(session: Session, name: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(Campaign.name == name)).one_or_none()
    if campaign is None:
        raise CampaignError(f"unknown campaign {name!r}")
    return campaign


def create(session: Session, spec: CampaignSpec) -> Campaign:
    """A new campaign in state draft; a name already used is refused."""
    if session.scalar(select(func.count()).select_from(Campaign).where(Campaign.name == spec.name)):
        raise CampaignError(f"a campaign named {spec.name!r} already exists (campaign names are unique)")
    template = spec.trunk_template
    if spec.trunk is not None:
        trunk = session.get(Trunk, spec.trunk)
        if trunk is None:
            raise CampaignError(f"trunk {spec.trunk!r} does not exist: add it first (dialer trunks add {spec.trunk} ...)")
        template = template or trunk.template
    campaign = Campaign(
        name=spec.name, state=CampaignState.DRAFT, flow=spec.flow, language=spec.language,
        default_region=spec.default_region, caller_id=spec.caller_id, trunk_template=template, trunk_name=spec.trunk,
        max_concurrent=spec.max_concurrent, calls_per_second=spec.calls_per_second,
        ring_timeout_s=spec.ring_timeout_s, settings=spec.settings, created_at=datetime.now(UTC),
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    return campaign


def transition(session: Session, name: str, command: str) -> tuple[CampaignState, CampaignState]:
    """Apply start|pause|resume|stop; returns (before, after) or raises CampaignError saying why not."""
    allowed, target = TRANSITIONS[command]
    campaign = find(session, name)
    before = campaign.state
    done = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state.in_(allowed))
        .values(state=target)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(campaign)
        now = campaign.state
        why = _WHY.get((command, now), f"it is {now.value}" + (" (final)" if now in (S.STOPPED, S.FINISHED) else ""))
        raise CampaignError(f"cannot {command} campaign {name!r}: {why}")
    if target == S.ACTIVE and "paused_reason" in campaign.settings:  # the daemon checks again
        session.refresh(campaign)
        campaign.settings = {k: v for k, v in campaign.settings.items() if k != "paused_reason"}
    return before, target


def summaries(session: Session) -> list[CampaignRow]:
    contacts = (
        select(Contact.campaign_id, func.count().label("n"),
               func.count().filter(Contact.disposition == Disposition.PENDING).label("pending"))
        .group_by(Contact.campaign_id).subquery()
    )  # fmt: skip
    attempts = (
        select(Attempt.campaign_id, func.count().label("n"),
               func.count().filter(Attempt.state != AttemptState.ENDED).label("live"))
        .group_by(Attempt.campaign_id).subquery()
    )  # fmt: skip
    query = (
        select(Campaign, contacts.c.n, contacts.c.pending, attempts.c.n, attempts.c.live)
        .outerjoin(contacts, contacts.c.campaign_id == Campaign.id)
        .outerjoin(attempts, attempts.c.campaign_id == Campaign.id)
        .order_by(Campaign.created_at, Campaign.id)
    )
    return [
        CampaignRow(c.name, c.state.value, c.flow, c.language, n or 0, pending or 0, tries or 0, live or 0,
                    c.created_at)  # fmt: skip
        for c, n, pending, tries, live in session.execute(query)
    ]
