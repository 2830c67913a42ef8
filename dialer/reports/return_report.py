"""The "return calls" line of a campaign's report: calls people placed to its caller ID, how many were
identified (a contact of the campaign), and how they ended."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.domain import ReturnMatch
from dialer.storage.return_call_models import ReturnCall


def return_summary(session: Session, campaign_id: int) -> dict[str, Any] | None:
    """count, identified, unknown, shared and outcomes (ended calls); None when there were none."""
    rows = session.execute(select(ReturnCall.match, ReturnCall.outcome, func.count())
                           .where(ReturnCall.campaign_id == campaign_id)
                           .group_by(ReturnCall.match, ReturnCall.outcome)).all()  # fmt: skip
    if not rows:
        return None
    matches: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for match, outcome, n in rows:
        matches[match.value] += n
        if outcome is not None:
            outcomes[outcome.value] += n
    return {"count": sum(matches.values()), **{m.value: matches[m.value] for m in ReturnMatch},
            "outcomes": dict(sorted(outcomes.items()))}  # fmt: skip


def describe(summary: dict[str, Any]) -> str:
    """One line: "3 (2 identified, 1 unknown); answered 1, hung_up_early 1, transferred 1"."""
    kinds = ", ".join(f"{summary[m.value]} {m.value}" for m in ReturnMatch if summary[m.value])
    ended = ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())
    return f"{summary['count']} ({kinds})" + (f"; {ended}" if ended else "")
