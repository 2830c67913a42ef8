"""Transfers to agents: how many callers asked for one, how many were abandoned (no agent within
the campaign's limit, or hung up while queued: details.agent_answered false), their waits, for the
whole campaign and the last 30 days (the US TSR safe harbor's window), against the target."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import Outcome
from dialer.storage.models import Attempt, Campaign

WINDOW_DAYS = 30
DEFAULT_TARGET_PCT = 3.0


def _counts(session: Session, campaign_id: int, since: datetime | None = None) -> tuple[int, int]:
    where = [Attempt.campaign_id == campaign_id, Attempt.outcome == Outcome.TRANSFERRED]
    if since is not None:
        where.append(Attempt.ended_at >= since)
    requests = session.scalar(select(func.count()).where(*where)) or 0
    reached = session.scalar(select(func.count()).where(
        *where, Attempt.details["agent_answered"].as_boolean().is_(True))) or 0  # fmt: skip
    return requests, requests - reached


def history(sessions: sessionmaker[Session], campaign_id: int, now: datetime) -> tuple[int, int]:
    """(transfer requests, abandoned) of the last 30 days: the abandonment guard's starting point."""
    with sessions() as s:
        return _counts(s, campaign_id, now - timedelta(days=WINDOW_DAYS))


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


def _waits(session: Session, campaign_id: int) -> tuple[float | None, float | None]:
    """p50 and p95 of the queue waits (seconds) of the campaign's transfers."""
    rows = session.scalars(select(Attempt.details["queue_wait_s"].as_float()).where(
        Attempt.campaign_id == campaign_id, Attempt.outcome == Outcome.TRANSFERRED)).all()  # fmt: skip
    waits = sorted(w for w in rows if w is not None)
    if not waits:
        return None, None
    return percentile(waits, 50), percentile(waits, 95)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return round(float(sorted_values[int(rank) - 1]), 1)


def transfer_summary(session: Session, campaign: Campaign, now: datetime) -> dict[str, Any] | None:
    """The report's transfers section; None when the campaign never transferred a caller."""
    requests, abandoned = _counts(session, campaign.id)
    if requests == 0:
        return None
    recent, recent_abandoned = _counts(session, campaign.id, now - timedelta(days=WINDOW_DAYS))
    target = float((campaign.settings.get("transfer") or {}).get("abandon_target_pct", DEFAULT_TARGET_PCT))
    p50, p95 = _waits(session, campaign.id)
    rate_30d = _pct(recent_abandoned, recent)
    return {"requests": requests, "abandoned": abandoned, "abandon_rate_pct": _pct(abandoned, requests),
            "requests_30d": recent, "abandoned_30d": recent_abandoned, "abandon_rate_30d_pct": rate_30d,
            "abandon_target_pct": target, "within_target": rate_30d is None or rate_30d <= target,
            "queue_wait_p50_s": p50, "queue_wait_p95_s": p95}  # fmt: skip
