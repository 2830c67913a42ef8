"""Is a contact due at `now`, and if not, why and when next? Pure: the caller passes the clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from scheduler.caps import Past
from scheduler.policy import Schedule
from scheduler.windows import HORIZON_DAYS
from scheduler.zones import Zones, contact_zones


@dataclass(frozen=True)
class Reason:
    code: str  # retry, round, per_day, per_7_days, total, quiet, window, dnc, disposition, live, campaign
    text: str
    until: datetime | None = None  # when it lifts; None: never (or not by waiting)


@dataclass(frozen=True)
class ContactView:
    """What the scheduler needs of one contact."""

    timezone: str | None
    number: str | None  # the number dialled next
    fields: Mapping[str, Any] = field(default_factory=dict)
    history: Sequence[Past] = ()
    not_before: datetime | None = None  # next_attempt_at: the retry delay


@dataclass(frozen=True)
class Verdict:
    due: bool
    next_at: datetime | None  # `now` when due; None: never again
    reasons: tuple[Reason, ...]  # every block met on the way from now to next_at
    zones: Zones | None = None


def _midnight(day: Any, zones: Zones) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zones.first)


def _closing(schedule: Schedule, t: datetime, zones: Zones, hold: timedelta) -> str:
    """Why a window open at `t` does not do: it closes before a call leaving now could end."""
    closes = schedule.windows.closes_at(t, zones.zones)
    if closes is None:
        return f"not open in all of {zones.describe()} at once"
    local = zones.first
    return (f"it closes at {closes.astimezone(local):%H:%M} {local.key}, within the ring time and margin "
            f"({hold.total_seconds():g} s) of a call leaving at {t.astimezone(local):%H:%M:%S}")


def evaluate(
    schedule: Schedule, contact: ContactView, now: datetime, hold: timedelta = timedelta(0)
) -> Verdict:
    """Walk forward from `now` past every block (retry delay, round day, caps, window). `hold`: how
    long the window must stay open after a call leaves (ring timeout and margin)."""
    zones = contact_zones(contact.timezone, contact.number, schedule.default_zones)
    reasons: list[Reason] = []
    t = now
    if contact.not_before is not None and contact.not_before > t:
        t = contact.not_before
        reasons.append(
            Reason(
                "retry", f"next attempt set for {t:%Y-%m-%d %H:%M} UTC (retry delay, or an earlier block)", t
            )
        )
    recurrence = schedule.recurrence
    for _ in range(32):
        moved = False
        if recurrence.has_rounds:
            day = t.astimezone(zones.first).date()
            nxt = recurrence.next_day(day, contact.fields)
            if nxt is None:
                missing = recurrence.reminder_field and recurrence.reminder_dates(contact.fields) is None
                text = (
                    f"field {recurrence.reminder_field!r} is missing or not a date"
                    if missing
                    else f"no round left ({recurrence.describe()})"
                )
                reasons.append(Reason("round", text, None))
                return Verdict(False, None, tuple(reasons), zones)
            if nxt > day:
                t = _midnight(nxt, zones)
                reasons.append(
                    Reason("round", f"{day} is not a round day ({recurrence.describe()}); next {nxt}", t)
                )
                moved = True
        blocks = schedule.caps.blocks(t, contact.history, zones.first)
        for block in blocks:
            reasons.append(Reason(block.code, block.text, block.until))
            if block.until is None:
                return Verdict(False, None, tuple(reasons), zones)
        if blocks:
            t = max(b.until for b in blocks if b.until is not None)
            continue
        opens = schedule.windows.next_open(t, zones.zones, hold=hold)
        if opens is None:
            horizon = t + timedelta(days=HORIZON_DAYS)
            reasons.append(
                Reason(
                    "window",
                    f"the calling window ({schedule.windows.describe()}) is not open in "
                    f"all of {zones.describe()} within {HORIZON_DAYS} days",
                    horizon,
                )
            )
            return Verdict(False, horizon, tuple(reasons), zones)
        if opens > t:
            why = [w for z in zones.zones if (w := schedule.windows.why_closed(t, z))]
            text = "; ".join(why) or _closing(schedule, t, zones, hold)
            reasons.append(Reason("window", f"calling window closed: {text}", opens))
            t = opens
            moved = True
        if not moved:
            break
    return Verdict(t == now, t, tuple(reasons), zones)
