"""`dialer status`: the active and paused campaigns at a glance (live calls, calls/s, results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, func, select
from sqlalchemy.orm import Session

from dialer.domain import AttemptState, CampaignState
from dialer.reports.campaign_report import RATE_WINDOW_S
from dialer.storage.models import Attempt, Campaign


@dataclass
class StatusRow:
    campaign: str
    state: str
    live: int
    calls_per_s: float
    outcomes: dict[str, int]


def status(session: Session, now: datetime) -> list[StatusRow]:
    """Active and paused campaigns: live calls, calls/s over the last 10 s, results so far."""
    campaigns = session.scalars(
        select(Campaign).where(Campaign.state.in_([CampaignState.ACTIVE, CampaignState.PAUSED])).order_by(Campaign.name)
    ).all()
    rows = []
    for c in campaigns:
        mine = Attempt.campaign_id == c.id
        live = session.scalar(select(func.count()).where(mine, Attempt.state != AttemptState.ENDED)) or 0
        recent = session.scalar(select(func.count()).where(
            mine, Attempt.originated_at >= now - timedelta(seconds=RATE_WINDOW_S))) or 0  # fmt: skip
        result = func.coalesce(Attempt.outcome, Attempt.dial_result, type_=String)
        ended = session.execute(
            select(result, func.count()).where(mine, Attempt.state == AttemptState.ENDED).group_by(result)
        ).all()
        outcomes = {str(k): n for k, n in sorted(ended, key=lambda r: (-r[1], str(r[0])))}
        rows.append(StatusRow(c.name, c.state.value, live, recent / RATE_WINDOW_S, outcomes))
    return rows
