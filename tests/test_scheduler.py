"""The pure scheduler with a fixed clock: windows, zones, DST, holidays, caps, policies, rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.caps import Caps, Past
from scheduler.due import ContactView, evaluate
from scheduler.explain import explain
from scheduler.policy import parse_schedule
from scheduler.windows import ScheduleError
from scheduler.zones import contact_zones

NY, MADRID = ZoneInfo("America/New_York"), ZoneInfo("Europe/Madrid")
NY_NUMBER, LA_NUMBER, ES_MOBILE = "+12125551234", "+13105551234", "+34611100000"


def sched(region: str = "US", **raw: Any) -> Any:
    schedule = parse_schedule({"schedule": raw}, region)
    assert schedule is not None
    return schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_no_schedule_dials_any_time_and_an_empty_one_too() -> None:
    assert parse_schedule({}, "ES") is None
    s = sched()
    v = evaluate(s, ContactView(None, NY_NUMBER), utc(2026, 11, 23, 3, 0))
    assert v.due and v.next_at == utc(2026, 11, 23, 3, 0)


def test_dst_change_day_keeps_the_wall_clock_window() -> None:
    s = sched(timezone="America/New_York", windows={"daily": "08:00-21:00"})
    # 2026-03-08: New York springs forward at 02:00 (UTC-5 -> UTC-4)
    before = evaluate(s, ContactView(None, NY_NUMBER), utc(2026, 3, 7, 3, 0))
    assert before.next_at == utc(2026, 3, 7, 13, 0)  # 08:00 EST
    on_the_day = evaluate(s, ContactView(None, NY_NUMBER), utc(2026, 3, 8, 3, 0))
    assert on_the_day.next_at == utc(2026, 3, 8, 12, 0)  # 08:00 EDT
    closes = s.windows.closes_at(utc(2026, 3, 8, 12, 0), (NY,))
    assert closes == utc(2026, 3, 9, 1, 0)  # 21:00 EDT
    # 2026-11-01: falls back; the day is 25 hours long and 08:00 is 13:00 UTC again
    assert evaluate(s, ContactView(None, NY_NUMBER), utc(2026, 11, 1, 5, 0)).next_at == utc(
        2026, 11, 1, 13, 0
    )


def test_window_ending_at_21_pushes_a_retry_due_after_it_to_the_next_morning() -> None:
    s = sched(policy="us-regf", timezone="America/New_York")
    retry_at = utc(2026, 11, 24, 2, 5)  # 21:05 in New York
    v = evaluate(s, ContactView(None, NY_NUMBER, not_before=retry_at), utc(2026, 11, 24, 1, 55))
    assert not v.due and v.next_at == utc(2026, 11, 24, 13, 0)  # 08:00 next morning
    assert [r.code for r in v.reasons] == ["retry", "window"]
    assert "21:05 mon in America/New_York is outside 08:00-21:00" in v.reasons[1].text


def test_contact_in_another_zone_than_the_campaign() -> None:
    s = sched(timezone="America/New_York", windows={"mon-fri": "09:00-20:00"})
    now = utc(2026, 11, 24, 15, 0)  # 10:00 New York, 07:00 Los Angeles
    assert evaluate(s, ContactView(None, NY_NUMBER), now).due
    la = evaluate(s, ContactView(None, LA_NUMBER), now)
    assert not la.due and la.next_at == utc(2026, 11, 24, 17, 0)  # 09:00 in Los Angeles
    explicit = evaluate(s, ContactView("Europe/Madrid", NY_NUMBER), now)  # the column wins: 16:00 Madrid
    assert explicit.due and explicit.zones is not None and explicit.zones.source == "contact"


def test_a_number_in_several_zones_must_be_open_in_all_of_them() -> None:
    zones = contact_zones(None, ES_MOBILE, (MADRID,))
    assert {z.key for z in zones.zones} == {"Europe/Madrid", "Atlantic/Canary"}
    s = sched("ES", windows={"daily": "09:00-20:00"})
    v = evaluate(s, ContactView(None, ES_MOBILE), utc(2026, 11, 24, 8, 30))  # 09:30 Madrid, 08:30 Canary
    assert v.next_at == utc(2026, 11, 24, 9, 0)  # 09:00 Canary (10:00 Madrid)
    assert not evaluate(s, ContactView(None, ES_MOBILE), utc(2026, 11, 24, 19, 30)).due  # 20:30 in Madrid
    unknown = contact_zones("Not/AZone", "+80012345678", (MADRID,))
    assert unknown.source == "campaign"


def test_holiday_in_the_contact_local_date() -> None:
    s = sched(
        timezone="America/New_York", windows={"mon-fri": "09:00-20:00"}, holidays=["12-25", "2026-12-24"]
    )
    v = evaluate(s, ContactView(None, NY_NUMBER), utc(2026, 12, 24, 15, 0))  # Thursday 10:00, a holiday
    assert v.next_at == utc(2026, 12, 28, 14, 0)  # 25th holiday, weekend, Monday 09:00
    assert "holiday 2026-12-24 in America/New_York" in v.reasons[0].text


def test_rolling_seven_day_cap_lifts_when_the_oldest_attempt_leaves_the_week() -> None:
    s = sched(policy="us-regf", timezone="America/New_York")
    start = utc(2026, 11, 16, 14, 0)
    history = [Past(start + timedelta(days=i)) for i in range(7)]  # one a day, 7 in 7 days
    v = evaluate(s, ContactView(None, NY_NUMBER, history=history), utc(2026, 11, 22, 18, 0))
    assert not v.due and v.next_at == start + timedelta(days=7)
    assert v.reasons[0].code == "per_7_days"
    assert Caps(per_7_days=7).blocks(start + timedelta(days=7), history, NY) == []


def test_an_attempt_stamped_after_now_counts_against_every_cap() -> None:
    """Another host's clock a little ahead, or a call claimed while this claim was decided: its
    stamp is later than this claim's `now`, and it is a call all the same (CI saw one twice)."""
    now = utc(2026, 11, 30, 17, 0)
    later = [Past(now + timedelta(seconds=2), conversation=True)]
    caps = Caps(per_day=1, per_7_days=1, total=1, quiet_days_after_conversation=1)
    assert sorted(b.code for b in caps.blocks(now, later, NY)) == ["per_7_days", "per_day", "quiet", "total"]
    assert Caps(per_day=1).blocks(utc(2026, 12, 1, 4, 0), later, NY)[0].code == "per_day"  # NY 23:00, same day
    assert Caps(per_day=1).blocks(now, [Past(utc(2026, 12, 1, 6, 0))], NY) == []  # NY's next day: not today's


def test_quiet_period_after_a_conversation_and_per_day_and_total_caps() -> None:
    s = sched(policy="us-regf", timezone="America/New_York", caps={"per_day": 2, "total": 5})
    talk = utc(2026, 11, 20, 15, 0)
    v = evaluate(
        s, ContactView(None, NY_NUMBER, history=[Past(talk, conversation=True)]), utc(2026, 11, 21, 15, 0)
    )
    assert v.next_at == talk + timedelta(days=7) and v.reasons[0].code == "quiet"
    today = [Past(utc(2026, 11, 24, 14, 0)), Past(utc(2026, 11, 24, 15, 0))]
    v = evaluate(s, ContactView(None, NY_NUMBER, history=today), utc(2026, 11, 24, 16, 0))
    assert v.next_at == utc(2026, 11, 25, 13, 0)  # midnight New York, then the window at 08:00
    many = [Past(utc(2026, 10, d, 14, 0)) for d in range(1, 6)]
    v = evaluate(s, ContactView(None, NY_NUMBER, history=many), utc(2026, 11, 24, 16, 0))
    assert not v.due and v.next_at is None and "total cap is 5" in explain(v, utc(2026, 11, 24, 16, 0))[-2]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"policy": "us-regf", "windows": {"sat": "07:00-13:00"}},
            "schedule.windows: 07:00-13:00 on sat is outside policy us-regf",
        ),
        (
            {"policy": "us-regf", "caps": {"per_7_days": 9}},
            "schedule.caps.per_7_days: 9 is looser than policy us-regf (7)",
        ),
        (
            {"policy": "us-regf", "caps": {"quiet_days_after_conversation": 3}},
            "schedule.caps.quiet_days_after_conversation: 3",
        ),
        ({"policy": "fr"}, "schedule.policy: 'fr' is not one of none, us-regf, ar"),
        ({"windows": {"mon-fry": "09:00-20:00"}}, "schedule.windows.mon-fry: 'mon-fry' is not a weekday"),
        ({"windows": {"mon": "20:00-09:00"}}, "schedule.windows.mon: '20:00-09:00' ends before it starts"),
        ({"holidays": ["2026-02-30"]}, "schedule.holidays[0]: '2026-02-30'"),
        ({"timezone": "Mars/Olympus"}, "schedule.timezone: unknown time zone 'Mars/Olympus'"),
        ({"caps": {"per_week": 3}}, "schedule.caps.per_week: unknown cap"),
        ({"window": {}}, "schedule.window: unknown setting"),
        ({"recurrence": {"every": "weekly"}}, "schedule.recurrence.on: weekly needs weekdays"),
        ({"reminders": {"field": "due_date", "days": "3"}}, "schedule.reminders.days"),
    ],
)
def test_bad_settings_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule({"schedule": raw}, "US")
    assert message in str(info.value)


def test_a_campaign_may_tighten_its_policy() -> None:
    s = sched(policy="us-regf", windows={"mon-fri": "09:00-20:00"}, caps={"per_7_days": 3, "per_day": 1})
    assert s.caps == Caps(per_day=1, per_7_days=3, quiet_days_after_conversation=7)
    assert s.windows.hours.get(5) is None  # Saturday closed
    ar = sched("AR", policy="ar")
    assert ar.dnc_sources == ("registro-no-llame",) and ar.default_zones[0].key == "America/Buenos_Aires"
    assert not evaluate(ar, ContactView(None, "+5491112345678"), utc(2026, 11, 24, 23, 30)).due  # 20:30 local


def test_reminders_relative_to_a_date_field() -> None:
    s = sched(
        timezone="America/New_York",
        windows={"daily": "09:00-20:00"},
        reminders={"field": "due_date", "days": [-3, 0, 5]},
    )
    fields = {"due_date": "2026-12-10"}
    v = evaluate(s, ContactView(None, NY_NUMBER, fields), utc(2026, 12, 1, 15, 0))
    assert v.next_at == utc(2026, 12, 7, 14, 0)  # 3 days before, 09:00
    assert evaluate(s, ContactView(None, NY_NUMBER, fields), utc(2026, 12, 10, 15, 0)).due
    assert evaluate(s, ContactView(None, NY_NUMBER, fields), utc(2026, 12, 11, 15, 0)).next_at == utc(
        2026, 12, 15, 14, 0
    )
    over = evaluate(s, ContactView(None, NY_NUMBER, fields), utc(2026, 12, 16, 15, 0))
    assert over.next_at is None and "no round left" in over.reasons[-1].text
    bad = evaluate(s, ContactView(None, NY_NUMBER, {"due_date": "soon"}), utc(2026, 12, 1, 15, 0))
    assert bad.next_at is None and "'due_date' is missing or not a date" in bad.reasons[-1].text


def test_weekly_and_monthly_recurrence() -> None:
    weekly = sched(timezone="Europe/Madrid", recurrence={"every": "weekly", "on": ["mon", "thu"]})
    assert evaluate(weekly, ContactView(None, None), utc(2026, 11, 24, 10, 0)).next_at == utc(
        2026, 11, 25, 23, 0
    )
    monthly = sched(
        timezone="Europe/Madrid", recurrence={"every": "monthly", "on": [1, 15], "until": "2027-01-01"}
    )
    assert evaluate(monthly, ContactView(None, None), utc(2026, 11, 24, 10, 0)).next_at == utc(
        2026, 11, 30, 23, 0
    )
    assert evaluate(monthly, ContactView(None, None), utc(2027, 1, 2, 10, 0)).next_at is None


def test_a_window_never_open_in_all_zones_is_reported_not_looped() -> None:
    s = sched(windows={"daily": "09:00-17:00"})
    zones = (ZoneInfo("Asia/Tokyo"), NY)  # 09-17 Tokyo is 00-08 UTC, in New York 14-22 UTC
    assert s.windows.next_open(utc(2026, 11, 24, 0, 0), zones) is None
    v = evaluate(s, ContactView(None, "+18005551234"), utc(2026, 11, 24, 0, 0))  # toll-free: Guam to Hawaii
    assert not v.due and v.next_at == utc(2026, 12, 8, 0, 0) and "not open in all of" in v.reasons[-1].text
