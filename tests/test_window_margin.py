"""Calling windows with a margin (issue 12, item 6): a call leaves only if the window stays open
for its ring timeout plus a margin (default 60 s); the engine checks again just before the
Originate, against the real sandbox Asterisk."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dialer.config import EngineSettings
from dialer.domain import DialResult
from dialer.engine import Engine
from dialer.reports.explain import explain_contact
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.claims import Plan
from dialer.storage.models import Contact
from dialer.storage.repository import Repository
from scheduler.due import ContactView, evaluate
from scheduler.policy import parse_schedule
from scheduler.windows import ScheduleError
from tests.campaigns import attempts, contacts, make_campaign, new_database
from tests.test_scheduling_repository import NY_NUMBER, Clock, add, clocked, ny, row  # noqa: F401

US_REGF = {"schedule": {"policy": "us-regf", "timezone": "America/New_York"}}  # 08:00-21:00 local
HOLD = timedelta(seconds=30 + 60)  # a campaign's default ring timeout and the default margin


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return ny(23, hour, minute) + timedelta(seconds=second)


@pytest.mark.parametrize(("when", "due"),
                         [((20, 58, 30), True), ((20, 58, 31), False), ((20, 59, 30), False)])  # fmt: skip
def test_the_window_must_stay_open_for_the_ring_time_and_the_margin(
    when: tuple[int, int, int], due: bool
) -> None:
    schedule = parse_schedule(US_REGF)
    assert schedule is not None and schedule.margin_s == 60
    view = ContactView("America/New_York", NY_NUMBER)
    assert evaluate(schedule, view, at(*when)).due  # open at that instant: what was checked before
    verdict = evaluate(schedule, view, at(*when), HOLD)
    assert verdict.due is due
    if not due:
        assert verdict.next_at == ny(24, 8)
        assert "closes at 21:00 America/New_York" in verdict.reasons[-1].text


def test_the_margin_is_a_schedule_setting_checked_like_the_others() -> None:
    schedule = parse_schedule({"schedule": {**US_REGF["schedule"], "window_margin_s": 300}})
    assert schedule is not None and schedule.margin_s == 300
    with pytest.raises(ScheduleError, match=r"schedule.window_margin_s: -5 is not a whole number"):
        parse_schedule({"schedule": {"window_margin_s": -5}})


def test_a_claim_at_20_59_30_local_rings_nobody_and_waits_for_the_morning(
    clocked: tuple[Repository, Clock],  # noqa: F811 - the fixture
) -> None:
    repo, clock = clocked
    cid = add(repo, [{"numbers": [NY_NUMBER]}], US_REGF["schedule"])
    clock.now = at(20, 59, 30)
    with repo.sessions() as s:
        lines = explain_contact(s, s.scalars(select(Contact)).one(), clock.now)
    why = "it closes at 21:00 America/New_York, within the ring time and margin (90 s)"
    assert any(why in line for line in lines), lines
    assert repo.claim_next(cid) is None
    assert row(repo).next_attempt_at == ny(24, 8)
    plan = repo.claim_next(cid, ny(24, 8))
    assert plan is not None and plan.dial_by == ny(24, 21) - HOLD  # the latest the Originate may leave


def test_a_longer_margin_stops_claims_earlier(clocked: tuple[Repository, Clock]) -> None:  # noqa: F811
    repo, clock = clocked
    cid = add(repo, [{"numbers": [NY_NUMBER]}], {**US_REGF["schedule"], "window_margin_s": 300})
    clock.now = at(20, 55)  # 20:55 + 30 s ring + 300 s margin is past 21:00
    assert repo.claim_next(cid) is None


# -- the engine checks again just before the Originate (sandbox Asterisk) ---------------------------
class SlowToLeave(Repository):
    """Each claim takes the clock two minutes on: the Originates leave after the claim's check,
    as when slots or the calls-per-second bucket hold a claimed call back."""

    def claim(self, campaign_id: int, limit: int, now: Any = None, **kwargs: Any) -> list[Plan]:
        plans = super().claim(campaign_id, limit, now, **kwargs)
        assert isinstance(self.clock, Clock)
        self.clock.now += timedelta(minutes=2)
        return plans


@pytest.mark.asterisk
async def test_a_call_whose_window_closed_since_its_claim_is_not_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    # 20:57 in New York (open until 21:00, so claimable until 20:58:30); 10:57 in Tokyo
    clock = Clock(at(20, 57))
    busy_ny, busy_tokyo = sim_number("busy", tag=61), sim_number("busy", tag=62)
    settings = {"retries": {"max_attempts": 1}, "schedule": {"windows": {"daily": "08:00-21:00"}}}
    cid = make_campaign(url, "margin", [busy_ny, busy_tokyo], render=False, max_concurrent=2,
                        calls_per_second=50, settings=settings)
    engine_ = db.make_engine(url)
    with db.session_factory(engine_).begin() as s:
        zones = ["America/New_York", "Asia/Tokyo"]
        for contact, zone in zip(s.scalars(select(Contact).order_by(Contact.id)), zones, strict=True):
            contact.timezone = zone
    repo = SlowToLeave(db.session_factory(engine_), clock=clock)
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.1, drain_timeout_s=5))
    stop = asyncio.Event()

    async def until_settled() -> None:
        while True:
            rows = contacts(url, cid)
            if rows[1].disposition.value == "exhausted" and rows[0].next_attempt_at is not None:
                stop.set()
                return
            await asyncio.sleep(0.2)

    watcher = asyncio.ensure_future(until_settled())
    await asyncio.wait_for(engine.run(stop), 60)
    await watcher
    ny_contact, _tokyo = contacts(url, cid)
    assert [(a.number, a.dial_result) for a in attempts(url, cid)] == [(busy_tokyo, DialResult.BUSY)]
    assert ny_contact.attempts == 0 and ny_contact.live_attempt_id is None  # never sent, counts for nothing
    assert ny_contact.next_attempt_at == ny(24, 8)  # the next claim parked it until the morning
