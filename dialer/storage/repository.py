"""The engine's SQL work, one short transaction per method: campaigns, claims (storage.claims),
endings (storage.endings), nodes (storage.nodes) and resync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import AttemptState, CampaignState, Disposition, Outcome
from dialer.storage import guards
from dialer.storage.claims import Claims
from dialer.storage.ending_hooks import EndingHook
from dialer.storage.endings import Endings
from dialer.storage.nodes import Nodes
from dialer.storage.models import Attempt, Campaign, Contact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveAttempt:
    id: str
    campaign_id: int
    contact_id: int
    created_at: datetime
    trunk_template: str
    max_concurrent: int


def now_utc() -> datetime:
    return datetime.now(UTC)


class Repository(Claims, Endings, Nodes):
    """`node` names this dialer host: its attempts carry it and its resync sees only them."""

    def __init__(self, sessions: sessionmaker[Session], node: str = "", clock: Callable[[], datetime] = now_utc,
                 ending_hooks: tuple[EndingHook, ...] = ()) -> None:  # fmt: skip
        self.sessions = sessions
        self.ending_hooks = ending_hooks
        self.node = node
        self.clock = clock  # tests inject one; the claim's `now` argument wins over it

    # -- campaigns --------------------------------------------------------------------
    def active_campaigns(self) -> list[Campaign]:
        with self.sessions() as s:
            return list(s.scalars(select(Campaign).where(Campaign.state == CampaignState.ACTIVE)))

    def campaign(self, campaign_id: int) -> Campaign | None:
        with self.sessions() as s:
            return s.get(Campaign, campaign_id)

    def pause_campaign(self, campaign_id: int, reason: str) -> None:
        """Pause an active campaign and say why (shown by `dialer campaign show`)."""
        with self.sessions.begin() as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is not None and campaign.state == CampaignState.ACTIVE:
                campaign.state = CampaignState.PAUSED
                campaign.settings = {**campaign.settings, "paused_reason": reason}

    def finish_campaign_if_settled(self, campaign_id: int) -> bool:
        """Mark the campaign finished when no contact is pending; True if it is finished."""
        with self.sessions.begin() as s:
            pending = s.scalar(
                select(func.count()).select_from(Contact).where(
                    Contact.campaign_id == campaign_id,
                    or_(Contact.disposition == Disposition.PENDING, Contact.live_attempt_id.is_not(None)),
                )
            )
            if pending:
                return False
            campaign = s.get(Campaign, campaign_id)
            if campaign is not None and campaign.state == CampaignState.ACTIVE:
                campaign.state = CampaignState.FINISHED
                campaign.finished_at = now_utc()
                log.info("campaign %s finished: every contact is settled", campaign.name)
            return True

    def progress(self, campaign_id: int) -> dict[str, Any]:
        """Ended attempts per dial result or outcome, and contacts still pending (live events)."""
        ended = (
            select(Attempt.dial_result, Attempt.outcome, func.count())
            .where(Attempt.campaign_id == campaign_id, Attempt.state == AttemptState.ENDED)
            .group_by(Attempt.dial_result, Attempt.outcome)
        )
        pending = select(func.count()).select_from(Contact).where(
            Contact.campaign_id == campaign_id, Contact.disposition == Disposition.PENDING
        )
        counts: dict[str, int] = {}
        with self.sessions() as s:
            for result, outcome, n in s.execute(ended):
                key = (result or outcome or Outcome.UNKNOWN).value
                counts[key] = counts.get(key, 0) + n
            return {"counts": counts, "pending_contacts": s.scalar(pending) or 0}

    # -- resync -----------------------------------------------------------------------
    def live_attempts(self) -> list[LiveAttempt]:
        """This node's attempts SQL still has as live (originating or answered), with their caps."""
        query = (
            select(Attempt.id, Attempt.campaign_id, Attempt.contact_id, Attempt.created_at,
                   Campaign.trunk_template, Campaign.max_concurrent)  # fmt: skip
            .join(Campaign, Campaign.id == Attempt.campaign_id)
            .where(
                Attempt.node == self.node,
                Attempt.state.in_([AttemptState.ORIGINATING, AttemptState.ANSWERED]),
            )
        )
        with self.sessions() as s:
            return [LiveAttempt(*row) for row in s.execute(query)]

    def sweep_guards(self) -> int:
        """Give back the people's guards no live attempt holds any more (a safety net: every ending,
        undo and resolution gives them back in its own transaction); how many."""
        with self.sessions.begin() as s:
            return guards.sweep(s, self.clock())

    def attempt(self, attempt_id: str) -> Attempt | None:
        with self.sessions() as s:
            return s.get(Attempt, attempt_id)
