"""The IVR's calendar: "today" is the contact's local date, counted as the scheduler counts its days
(scheduler.zones), on the call path (promise-to-pay dates, read-backs) and in `prompts render`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.windows import ScheduleError
from scheduler.zones import contact_zones, local_date, region_zones, zone


def campaign_zones(settings: Mapping[str, Any], default_region: str) -> tuple[ZoneInfo, ...]:
    """The campaign's own zones: its schedule's timezone, else its default region's."""
    name = (settings.get("schedule") or {}).get("timezone")
    if name:
        try:
            return (zone(str(name)),)
        except ScheduleError:
            pass  # refused when the campaign file was read; a hand-edited setting falls back
    return region_zones(default_region)


def contact_today(now: datetime, timezone: str | None, number: str | None, settings: Mapping[str, Any],
                  default_region: str) -> date:  # fmt: skip
    """The contact's date at `now` (aware): its zone, else its number's, else the campaign's."""
    return date_span(now, [(timezone, number)], settings, default_region)[0]


def world_span(now: datetime) -> tuple[date, date]:
    """Every "today" on Earth right now (UTC-12 to UTC+14): it covers any contact's today without
    reading a million contacts (and parsing their numbers) first."""
    return (now - timedelta(hours=12)).date(), (now + timedelta(hours=14)).date()


def date_span(now: datetime, contacts: Iterable[tuple[str | None, str | None]], settings: Mapping[str, Any],
              default_region: str) -> tuple[date, date]:  # fmt: skip
    """The earliest and the latest "today" among (timezone, number) pairs; the campaign's own today
    when there are none."""
    default = campaign_zones(settings, default_region)
    days = {local_date(contact_zones(tz, number, default), now) for tz, number in contacts}
    if not days:
        days = {now.astimezone(default[0]).date()}
    return min(days), max(days)
