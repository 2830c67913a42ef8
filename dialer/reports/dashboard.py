"""What the dashboard shows beside the campaign report (dialer.reports.campaign_report): one row
per campaign (state, progress, live calls, contact rate), the calls per second just now, and the
hourly curve of attempts and contacts. Aggregated in SQL, on SQLite and PostgreSQL alike.

- progress: contacts settled (no longer pending) / contacts.
- contact rate: contacts reached / contacts attempted (campaign_report's definition).
- hourly: attempts created in each UTC hour, and of those, the ones connected (an outcome other
  than unknown) and reached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dialer.campaigns.states import summaries
from dialer.reports.campaign_report import CONNECTED, RATE_WINDOW_S, REACHED, pct
from dialer.storage.models import Attempt, Campaign


@dataclass
class CampaignLine:
    name: str
    state: str
    contacts: int
    settled: int
    progress_pct: float | None
    attempts: int
    live: int  # attempts not ended in SQL (every host's)
    contact_rate_pct: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hour:
    hour: str  # "2026-11-30T14:00Z"
    attempts: int
    connected: int
    reached: int


def campaign_lines(session: Session) -> list[CampaignLine]:
    attempted = dict(session.execute(
        select(Attempt.campaign_id, func.count(func.distinct(Attempt.contact_id))).group_by(Attempt.campaign_id)
    ).all())  # fmt: skip
    reached = dict(session.execute(
        select(Attempt.campaign_id, func.count(func.distinct(Attempt.contact_id)))
        .where(Attempt.outcome.in_(REACHED)).group_by(Attempt.campaign_id)
    ).all())  # fmt: skip
    ids = dict(session.execute(select(Campaign.name, Campaign.id)).all())
    lines = []
    for row in summaries(session):
        cid = ids[row.name]
        settled = row.contacts - row.pending
        lines.append(CampaignLine(row.name, row.state, row.contacts, settled, pct(settled, row.contacts), row.attempts,
                                  row.live, pct(reached.get(cid, 0), attempted.get(cid, 0))))  # fmt: skip
    return lines


def calls_per_s(session: Session, campaign_id: int, now: datetime) -> float:
    """Originates of the last RATE_WINDOW_S seconds, per second."""
    recent = session.scalar(select(func.count()).where(
        Attempt.campaign_id == campaign_id, Attempt.originated_at >= now - timedelta(seconds=RATE_WINDOW_S))) or 0  # fmt: skip
    return round(recent / RATE_WINDOW_S, 2)


def _hour_of(session: Session, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%dT%H:00Z", column)
    return func.to_char(func.date_trunc("hour", func.timezone("UTC", column)), 'YYYY-MM-DD"T"HH24:00"Z"')


def hourly(session: Session, campaign_id: int) -> list[Hour]:
    hour = _hour_of(session, Attempt.created_at).label("hour")
    connected = func.count().filter(Attempt.outcome.in_(CONNECTED))
    reached = func.count().filter(Attempt.outcome.in_(REACHED))
    rows = session.execute(
        select(hour, func.count(), connected, reached).where(Attempt.campaign_id == campaign_id)
        .group_by(hour).order_by(hour)
    ).all()  # fmt: skip
    return [Hour(str(h), n, c, r) for h, n, c, r in rows]

