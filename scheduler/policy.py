"""Named compliance presets and a campaign's schedule settings merged onto one, tighten-only.

campaign.settings["schedule"] (every key optional; no "schedule" at all: dial any time):
    policy      "none" (default), "us-regf" or "ar"
    timezone    the campaign's default zone (else the zones of its default region)
    windows     {"mon-fri": "09:00-20:00", "sat": ["09:00-13:00"]}; days not named are closed
    holidays    ["2026-12-25", "01-01"] (MM-DD: every year), in the contact's local time
    caps        {"per_day": 2, "per_7_days": 7, "total": 10, "quiet_days_after_conversation": 7}
    recurrence  {"every": "daily" | "weekly" | "monthly", "on": ["mon"] | [1, 15], "start", "until"}
    reminders   {"field": "due_date", "days": [-3, 0, 5]}
    window_margin_s  seconds the window must stay open beyond a call's ring timeout (default 60)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.caps import Caps
from scheduler.recurrence import Recurrence
from scheduler.windows import CallingWindows, ScheduleError
from scheduler.zones import region_zones, zone

KEY = "schedule"
KNOWN = {"policy", "timezone", "windows", "holidays", "caps", "recurrence", "reminders", "window_margin_s"}
MARGIN_S = 60  # a call leaves only if the window stays open for its ring timeout plus this
RNL = "registro-no-llame"


@dataclass(frozen=True)
class Preset:
    name: str
    windows: dict[str, Any] | None = None  # None: no hours of its own
    caps: Caps = field(default_factory=Caps)
    dnc_sources: tuple[str, ...] = ()  # DNC lists that must be loaded before it dials
    about: str = ""


PRESETS = {
    "none": Preset("none", about="no rules of its own"),
    "us-regf": Preset(
        "us-regf",
        {"daily": "08:00-21:00"},
        Caps(per_7_days=7, quiet_days_after_conversation=7),
        about="US Regulation F: 08:00-21:00 contact-local, at most 7 attempts in 7 days, "
        "none for 7 days after a conversation",
    ),
    "ar": Preset(
        "ar",
        {"daily": "08:00-20:00"},
        dnc_sources=(RNL,),
        about=f"Argentina: 08:00-20:00 contact-local; the Registro No Llame loaded as DNC (source {RNL})",
    ),
}


@dataclass(frozen=True)
class Schedule:
    policy: Preset
    default_zones: tuple[ZoneInfo, ...]
    windows: CallingWindows
    caps: Caps
    recurrence: Recurrence
    margin_s: int = MARGIN_S

    @property
    def dnc_sources(self) -> tuple[str, ...]:
        return self.policy.dnc_sources


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScheduleError(f"{key}: {value!r} is not a whole number >= 0")
    return value


def _caps(raw: Any, key: str) -> Caps:
    if not isinstance(raw, Mapping):
        raise ScheduleError(f"{key}: expected a table such as {{'per_7_days': 7}}")
    names = {f.name for f in fields(Caps)}
    for name in raw:
        if name not in names:
            raise ScheduleError(f"{key}.{name}: unknown cap (known: {', '.join(sorted(names))})")
    return Caps(**{name: _int(value, f"{key}.{name}") for name, value in raw.items()})


def _tighten_caps(policy: Preset, mine: Caps, key: str) -> Caps:
    merged: dict[str, int | None] = {}
    for f in fields(Caps):
        theirs, ours = getattr(policy.caps, f.name), getattr(mine, f.name)
        looser = f.name == "quiet_days_after_conversation"  # a longer quiet period is tighter
        if theirs is not None and ours is not None and (ours < theirs if looser else ours > theirs):
            raise ScheduleError(
                f"{key}.{f.name}: {ours} is looser than policy {policy.name} ({theirs}); "
                "a campaign may only tighten its policy"
            )
        merged[f.name] = theirs if ours is None else ours
    return Caps(**merged)


def _tighten_windows(policy: Preset, mine: CallingWindows, key: str) -> None:
    if policy.windows is None:
        return
    theirs = CallingWindows.parse(policy.windows, [], f"policy {policy.name}")
    for day, ranges in mine.hours.items():
        for r in ranges:
            if not any(r.within(p) for p in theirs.hours.get(day, ())):
                raise ScheduleError(
                    f"{key}: {r} on {('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[day]} is "
                    f"outside policy {policy.name} ({theirs.describe()}); a campaign may only "
                    "tighten its policy"
                )


def parse_schedule(settings: Mapping[str, Any], default_region: str = "ES") -> Schedule | None:
    """The campaign's schedule, or None when it has none (dial any time). Errors name the key."""
    raw = settings.get(KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ScheduleError(f"{KEY}: expected a table")
    for name in raw:
        if name not in KNOWN:
            raise ScheduleError(f"{KEY}.{name}: unknown setting (known: {', '.join(sorted(KNOWN))})")
    name = raw.get("policy", "none")
    if name not in PRESETS:
        raise ScheduleError(f"{KEY}.policy: {name!r} is not one of {', '.join(PRESETS)}")
    policy = PRESETS[name]
    try:
        zones = (zone(raw["timezone"]),) if raw.get("timezone") else region_zones(default_region)
    except ScheduleError as exc:
        raise ScheduleError(f"{KEY}.timezone: {exc}") from None
    holidays = raw.get("holidays", [])
    if not isinstance(holidays, list):
        raise ScheduleError(f"{KEY}.holidays: expected a list of dates")
    if "windows" in raw:
        windows = CallingWindows.parse(raw["windows"], holidays, f"{KEY}.windows")
        _tighten_windows(policy, windows, f"{KEY}.windows")
    elif policy.windows is not None:
        windows = CallingWindows.parse(policy.windows, holidays, f"{KEY}.windows")
    else:
        windows = CallingWindows.parse({"daily": "00:00-24:00"}, holidays, f"{KEY}.windows")
        windows = replace(windows, always=not windows.holidays)
    caps = _tighten_caps(policy, _caps(raw.get("caps", {}), f"{KEY}.caps"), f"{KEY}.caps")
    recurrence = Recurrence.parse(raw.get("recurrence"), raw.get("reminders"), KEY)
    margin = _int(raw.get("window_margin_s", MARGIN_S), f"{KEY}.window_margin_s")
    return Schedule(policy, zones, windows, caps, recurrence, margin)
