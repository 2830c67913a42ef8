"""Which local days a contact is called on: a campaign that recurs (daily, weekly on some
weekdays, monthly on some days of the month), and reminders relative to a date field of the
contact (3 days before due_date, on the day, 5 days after). Each such day is a *round*: a
contact reached (or out of retries) in one round waits for the next round, if there is one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from scheduler.windows import ScheduleError, parse_days

SEARCH_DAYS = 800  # how far next_day looks (a little over two years of monthly rounds)


def parse_date(value: Any) -> date | None:
    """ISO dates (2026-12-20, also with a time), or day-first 20/12/2026; None otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if match:
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Recurrence:
    every: str | None = None  # daily | weekly | monthly; None: every day (no rounds)
    on: frozenset[int] = frozenset()  # weekdays (0 = Monday) or days of the month
    start: date | None = None
    until: date | None = None
    reminder_field: str | None = None
    reminder_days: tuple[int, ...] = ()

    @classmethod
    def parse(
        cls, recurrence: Mapping[str, Any] | None, reminders: Mapping[str, Any] | None, key: str
    ) -> Recurrence:
        every, on, start, until = None, frozenset[int](), None, None
        if recurrence:
            every = str(recurrence.get("every", ""))
            raw_on = recurrence.get("on", [])
            raw_on = raw_on if isinstance(raw_on, list) else [raw_on]
            if every == "weekly":
                on = frozenset(d for item in raw_on for d in parse_days(str(item), f"{key}.recurrence.on"))
            elif every == "monthly":
                if not raw_on or not all(isinstance(d, int) and 1 <= d <= 31 for d in raw_on):
                    raise ScheduleError(
                        f"{key}.recurrence.on: monthly needs days of the month 1..31, e.g. [1, 15]"
                    )
                on = frozenset(raw_on)
            elif every != "daily":
                raise ScheduleError(f"{key}.recurrence.every: {every!r} is not daily, weekly or monthly")
            if every == "weekly" and not on:
                raise ScheduleError(f"{key}.recurrence.on: weekly needs weekdays, e.g. ['mon', 'thu']")
            for name in ("start", "until"):
                if name in recurrence and parse_date(recurrence[name]) is None:
                    raise ScheduleError(f"{key}.recurrence.{name}: {recurrence[name]!r} is not a date")
            start, until = parse_date(recurrence.get("start")), parse_date(recurrence.get("until"))
        field, days = None, ()
        if reminders:
            field = reminders.get("field")
            raw = reminders.get("days")
            if not isinstance(field, str) or not field:
                raise ScheduleError(f"{key}.reminders.field: the contact's date field, e.g. 'due_date'")
            if not isinstance(raw, list) or not raw or not all(isinstance(d, int) for d in raw):
                raise ScheduleError(f"{key}.reminders.days: days relative to the date, e.g. [-3, 0, 5]")
            days = tuple(sorted(set(raw)))
        return cls(every, on, start, until, field, days)

    @property
    def has_rounds(self) -> bool:
        return self.every is not None or bool(self.reminder_days)

    def _campaign_day(self, day: date) -> bool:
        if (self.start and day < self.start) or (self.until and day > self.until):
            return False
        if self.every == "weekly":
            return day.weekday() in self.on
        if self.every == "monthly":
            return day.day in self.on
        return True

    def reminder_dates(self, fields: Mapping[str, Any]) -> list[date] | None:
        """The contact's reminder days, or None if its date field is missing or not a date."""
        if not self.reminder_field:
            return []
        base = parse_date(fields.get(self.reminder_field))
        if base is None:
            return None
        return [base + timedelta(days=d) for d in self.reminder_days]

    def next_day(self, day: date, fields: Mapping[str, Any]) -> date | None:
        """The first round day on or after `day`, or None if there is none left."""
        if self.reminder_field:
            dates = self.reminder_dates(fields) or []
            return next((d for d in dates if d >= day and self._campaign_day(d)), None)
        for offset in range(SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self.until and candidate > self.until:
                return None
            if self._campaign_day(candidate):
                return candidate
        return None

    def describe(self, fields: Mapping[str, Any] | None = None) -> str:
        parts = []
        if self.every:
            parts.append(self.every + (f" on {sorted(self.on)}" if self.on else ""))
        if self.reminder_field:
            parts.append(f"reminders {list(self.reminder_days)} days from {self.reminder_field}")
        return ", ".join(parts) or "every day"
