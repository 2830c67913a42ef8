"""Calling windows: hours per weekday and holidays, in a contact's local time, across zones.

Pure: no I/O, no clock. Every time in and out is an aware datetime; intervals are UTC.
Local days are turned into UTC intervals with zoneinfo, so a DST change day is exactly as long
as it is (23 or 25 hours) and "08:00" is 08:00 on the wall clock on both sides of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 14  # next_open looks this far ahead; past it the window is "closed for good"

Interval = tuple[datetime, datetime]


class ScheduleError(ValueError):
    """Bad schedule settings; the message names the settings key."""


@dataclass(frozen=True)
class Range:
    start: time
    end: time | None  # None: midnight at the end of the day ("24:00")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end is None else format(self.end, '%H:%M')}"

    def within(self, other: Range) -> bool:
        end, other_end = self.end or time.max, other.end or time.max
        return other.start <= self.start and end <= other_end


def _parse_time(text: str, key: str) -> time | None:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        raise ScheduleError(f"{key}: {text!r} is not a time (HH:MM)")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return None
    if hour > 23 or minute > 59:
        raise ScheduleError(f"{key}: {text!r} is not a time of day")
    return time(hour, minute)


def parse_range(text: str, key: str) -> Range:
    start_text, sep, end_text = str(text).partition("-")
    if not sep:
        raise ScheduleError(f"{key}: {text!r} is not a range (HH:MM-HH:MM)")
    start, end = _parse_time(start_text, key), _parse_time(end_text, key)
    if start is None or (end is not None and end <= start):
        raise ScheduleError(f"{key}: {text!r} ends before it starts")
    return Range(start, end)


def parse_days(text: str, key: str) -> list[int]:
    """'mon-fri', 'sat', 'mon,wed,fri', 'daily' -> weekday numbers (0 = Monday)."""
    days: list[int] = []
    for part in str(text).lower().split(","):
        part = part.strip()
        if part in ("daily", "all", "*"):
            days.extend(range(7))
            continue
        first, sep, last = part.partition("-")
        if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
            raise ScheduleError(f"{key}: {part!r} is not a weekday or range of weekdays (mon..sun)")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last) if sep else WEEKDAYS.index(first)
        days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def parse_holiday(text: str, key: str) -> tuple[int | None, int, int]:
    """'2026-12-25' (that day) or '12-25' (every year) -> (year or None, month, day)."""
    match = re.fullmatch(r"(?:(\d{4})-)?(\d{2})-(\d{2})", str(text).strip())
    if not match:
        raise ScheduleError(f"{key}: {text!r} is not a date (YYYY-MM-DD, or MM-DD for every year)")
    year = int(match[1]) if match[1] else None
    try:
        date(year or 2000, int(match[2]), int(match[3]))
    except ValueError as exc:
        raise ScheduleError(f"{key}: {text!r}: {exc}") from None
    return year, int(match[2]), int(match[3])


@dataclass(frozen=True)
class CallingWindows:
    """Hours per weekday (0 = Monday; a day absent is closed) and holidays (closed all day).

    `always` windows (no schedule, or policy `none` without hours) are open at every instant.
    """

    hours: dict[int, tuple[Range, ...]] = field(default_factory=dict)
    holidays: frozenset[tuple[int | None, int, int]] = frozenset()
    always: bool = False
    _days: dict[tuple[date, str], list[Interval]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, spec: dict[str, object], holidays: Sequence[str], key: str) -> CallingWindows:
        """{"mon-fri": "09:00-20:00", "sat": ["09:00-13:00"]} and ["2026-12-25", "01-01"]."""
        if not isinstance(spec, dict):
            raise ScheduleError(
                f"{key}: expected a table of weekdays to hours, e.g. {{'mon-fri': '09:00-20:00'}}"
            )
        hours: dict[int, list[Range]] = {}
        for days_text, ranges in spec.items():
            where = f"{key}.{days_text}"
            items = [ranges] if isinstance(ranges, str) else ranges
            if not isinstance(items, list):
                raise ScheduleError(f"{where}: expected 'HH:MM-HH:MM' or a list of them")
            parsed = [parse_range(r, where) for r in items]
            for day in parse_days(days_text, where):
                hours.setdefault(day, []).extend(parsed)
        days = {d: tuple(sorted(r, key=lambda x: x.start)) for d, r in hours.items()}
        hol = frozenset(
            parse_holiday(h, f"{key.rsplit('.', 1)[0]}.holidays[{i}]") for i, h in enumerate(holidays)
        )
        return cls(days, hol)

    def is_holiday(self, day: date) -> bool:
        return (day.year, day.month, day.day) in self.holidays or (None, day.month, day.day) in self.holidays

    def day_intervals(self, day: date, zone: ZoneInfo) -> list[Interval]:
        """The UTC intervals in which `day` (a local date in `zone`) is open (cached)."""
        key = (day, zone.key)
        found = self._days.get(key)
        if found is None:
            if len(self._days) > 20_000:
                self._days.clear()
            found = self._days[key] = self._day_intervals(day, zone)
        return found

    def _day_intervals(self, day: date, zone: ZoneInfo) -> list[Interval]:
        if self.is_holiday(day):
            return []
        out = []
        for r in self.hours.get(day.weekday(), ()):
            start = datetime.combine(day, r.start, tzinfo=zone).astimezone(UTC)
            end_local = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                if r.end is None
                else datetime.combine(day, r.end, tzinfo=zone)
            )
            out.append((start, end_local.astimezone(UTC)))
        return out

    def intervals(self, start: datetime, end: datetime, zones: Sequence[ZoneInfo]) -> list[Interval]:
        """UTC intervals between start and end when the window is open in every zone."""
        if self.always:
            return [(start, end)]
        common: list[Interval] | None = None
        for zone in zones:
            first = start.astimezone(zone).date() - timedelta(days=1)
            days = (end - start).days + 3
            mine = [iv for d in range(days) for iv in self.day_intervals(first + timedelta(days=d), zone)]
            mine = [(max(a, start), min(b, end)) for a, b in _merge(mine) if b > start and a < end]
            common = mine if common is None else _intersect(common, mine)
        return common or []

    def is_open(self, now: datetime, zones: Sequence[ZoneInfo]) -> bool:
        return self.next_open(now, zones) == now

    def next_open(
        self, now: datetime, zones: Sequence[ZoneInfo], horizon_days: int = HORIZON_DAYS,
        hold: timedelta = timedelta(0),
    ) -> datetime | None:  # fmt: skip
        """`now` if open now (and for `hold` after it), else when the window next opens in every
        zone for at least `hold`; None past the horizon."""
        if self.always:
            return now
        for days in (1, horizon_days):  # most answers are within a day: look there first
            for start, end in self.intervals(now, now + timedelta(days=days) + hold, zones):
                if end - start >= hold:
                    return start
        return None

    def closes_at(self, now: datetime, zones: Sequence[ZoneInfo]) -> datetime | None:
        """When the interval open at `now` ends (None if closed now)."""
        found = self.intervals(now, now + timedelta(days=2), zones)
        return found[0][1] if found and found[0][0] == now else None

    def why_closed(self, now: datetime, zone: ZoneInfo) -> str | None:
        """Why the window is closed at `now` in one zone, or None if it is open there."""
        local = now.astimezone(zone)
        if self.always or any(a <= now < b for a, b in self.day_intervals(local.date(), zone)):
            return None
        if self.is_holiday(local.date()):
            return f"holiday {local.date()} in {zone.key}"
        ranges = self.hours.get(local.weekday())
        if not ranges:
            return f"no calling hours on {WEEKDAYS[local.weekday()]} in {zone.key}"
        hours = ", ".join(str(r) for r in ranges)
        return f"{local:%H:%M} {WEEKDAYS[local.weekday()]} in {zone.key} is outside {hours}"

    def describe(self) -> str:
        if self.always:
            return "any time"
        parts: list[tuple[int, int, str]] = []  # runs of days with the same hours: mon-fri 09:00-20:00
        for d in sorted(self.hours):
            text = " ".join(str(r) for r in self.hours[d])
            if parts and parts[-1][1] == d - 1 and parts[-1][2] == text:
                parts[-1] = (parts[-1][0], d, text)
            else:
                parts.append((d, d, text))
        days = [(WEEKDAYS[a] if a == b else f"{WEEKDAYS[a]}-{WEEKDAYS[b]}", t) for a, b, t in parts]
        holidays = f"; {len(self.holidays)} holidays" if self.holidays else ""
        return "; ".join(f"{d} {t}" for d, t in days) + holidays if days else "never"


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out
