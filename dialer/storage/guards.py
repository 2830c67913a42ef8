"""One live call per person across campaigns and hosts: while a call is live, its normalised number
("n:+34611100000") and, when the contact has one, its debt ("d:<debt_id>") each hold a row of
live_guard, whose primary key is the guard. A claim takes the guards in its own transaction
(INSERT ... ON CONFLICT DO NOTHING, so a number live elsewhere is simply not taken) and the
ending, unclaim or resolution of the attempt gives them back in its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dialer.storage.limits import LIVE
from dialer.storage.models import Attempt, Campaign, Dnc, LiveGuard

STALE_AFTER_S = 60.0


def keys(number: str, debt_id: str | None) -> list[str]:
    return [f"n:{number}"] + ([f"d:{debt_id}"] if debt_id else [])


def take(s: Session, wanted: dict[str, tuple[int, list[str]]], now: datetime) -> set[str]:
    """Attempt ids (of `wanted`: attempt id -> (campaign id, keys)) that got every key they asked for;
    the others hold none."""
    rows = [{"key": key, "attempt_id": attempt_id, "campaign_id": campaign_id, "since": now}
            for attempt_id, (campaign_id, names) in wanted.items() for key in names]  # fmt: skip
    if not rows:
        return set()
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(LiveGuard).values(rows).on_conflict_do_nothing(index_elements=["key"]).returning(
        LiveGuard.key, LiveGuard.attempt_id)  # fmt: skip
    got: dict[str, set[str]] = {}
    for key, attempt_id in s.execute(stmt).all():  # one statement, every row in its VALUES
        got.setdefault(attempt_id, set()).add(key)
    ok = {a for a, (_c, names) in wanted.items() if got.get(a, set()) >= set(names)}
    partial = [a for a in got if a not in ok]
    if partial:
        release(s, partial)
    return ok


def release(s: Session, attempt_ids: Iterable[str]) -> None:
    ids = list(attempt_ids)
    if ids:
        s.execute(delete(LiveGuard).where(LiveGuard.attempt_id.in_(ids)))


def listed(s: Session, numbers: list[str]) -> set[str]:
    """Those of `numbers` on the DNC list now. A claim reads it again once it holds the guards: an
    opt-out the call that held one committed (with its guard's release) counts for the next claim."""
    return set(s.scalars(select(Dnc.number).where(Dnc.number.in_(numbers)))) if numbers else set()


def holder(s: Session, names: list[str]) -> tuple[str, str] | None:
    """(campaign name, key) of the live call that holds one of these guards, if any."""
    row = s.execute(select(Campaign.name, LiveGuard.key).join(Campaign, Campaign.id == LiveGuard.campaign_id)
                    .where(LiveGuard.key.in_(names)).limit(1)).first()  # fmt: skip
    return (row[0], row[1]) if row is not None else None


def sweep(s: Session, now: datetime) -> int:
    """Guards left by an attempt that is no longer live (a safety net; every path releases)."""
    live = select(Attempt.id).where(Attempt.state.in_(LIVE))
    result = s.execute(delete(LiveGuard).where(LiveGuard.since < now - timedelta(seconds=STALE_AFTER_S),
                                               LiveGuard.attempt_id.not_in(live)))  # fmt: skip
    return int(getattr(result, "rowcount", 0) or 0)
