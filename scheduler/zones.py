"""A contact's time zone(s): its own column, else its phone number's, else the campaign's."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from scheduler.windows import ScheduleError

log = logging.getLogger(__name__)
UNKNOWN = "Etc/Unknown"


@dataclass(frozen=True)
class Zones:
    zones: tuple[ZoneInfo, ...]
    source: str  # "contact", "phone" or "campaign"

    @property
    def first(self) -> ZoneInfo:
        return self.zones[0]

    def describe(self) -> str:
        names = ", ".join(z.key for z in self.zones)
        return f"{names} (from the {self.source}{' default' if self.source == 'campaign' else ''})"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def number_zones(number: str) -> tuple[str, ...]:
    """phonenumbers' zones of an E.164 number; () when unknown or unparseable.

    phonenumbers finds zones by prefixes of at most 9 digits, so numbers of one length that share
    their first 9 digits share their zones: the answer is cached by that key (a parse costs ~50 us).
    """
    key = (number[:10], len(number))
    found = _by_prefix.get(key)
    if found is None:
        if len(_by_prefix) > 100_000:
            _by_prefix.clear()
        found = _by_prefix[key] = _lookup(number)
    return found


_by_prefix: dict[tuple[str, int], tuple[str, ...]] = {}


def _lookup(number: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    names = tuple(n for n in phone_timezone.time_zones_for_number(parsed) if n != UNKNOWN)
    return names


def contact_zones(explicit: str | None, number: str | None, default: tuple[ZoneInfo, ...]) -> Zones:
    """Explicit zone; else every zone of the number (the window must hold in all); else default."""
    if explicit:
        try:
            return Zones((zone(explicit),), "contact")
        except ScheduleError:
            log.warning("contact time zone %r is unknown: using the phone number's zones", explicit)
    if number:
        found = []
        for name in number_zones(number):
            try:
                found.append(zone(name))
            except ScheduleError:
                continue
        if found:
            return Zones(tuple(found), "phone")
    return Zones(default, "campaign")


@lru_cache(maxsize=256)
def region_zones(region: str) -> tuple[ZoneInfo, ...]:
    """Zones of a country's example fixed-line number (ES: Madrid and Canary); UTC if unknown."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    names = (
        number_zones(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
        if example
        else ()
    )
    return tuple(zone(n) for n in names) or (zone("UTC"),)


def local_date(zones: Zones, now: datetime) -> date:
    """The contact's calendar day at `now` (aware): in its first zone, as due and caps count days."""
    return now.astimezone(zones.first).date()
