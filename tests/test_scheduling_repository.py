"""The scheduler in the claim and finish paths, with an injected clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dialer.campaigns.dnc_import import import_dnc
from dialer.domain import CampaignState, DialResult, Disposition, Outcome
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Phone
from dialer.storage.repository import Repository
from tests.campaigns import storage_url

NY_NUMBER, LA_NUMBER = "+12125551234", "+13105551234"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def clocked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Repository, Clock]]:
    engine = db.make_engine(storage_url(request, tmp_path))
    clock = Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    yield Repository(db.session_factory(engine), clock=clock), clock
    engine.dispose()


def add(
    repo: Repository,
    contacts: list[dict[str, Any]],
    schedule: dict[str, Any] | None,
    name: str = "c",
    retries: dict[str, Any] | None = None,
    region: str = "US",
) -> int:
    settings: dict[str, Any] = {"retries": retries or {"max_attempts": 10, "delay_s": {"busy": 600}}}
    if schedule is not None:
        settings["schedule"] = schedule
    with repo.sessions.begin() as s:
        c = Campaign(
            name=name,
            state=CampaignState.ACTIVE,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            settings=settings,
            default_region=region,
            max_concurrent=1000,  # limits high enough not to matter here (test_limits is about them)
            calls_per_second=1000,
        )
        s.add(c)
        for i, spec in enumerate(contacts):
            s.add(
                Contact(
                    campaign=c,
                    external_id=spec.get("id", f"C{i}"),
                    created_at=c.created_at,
                    timezone=spec.get("tz"),
                    fields=spec.get("fields", {}),
                    phones=[Phone(number=n, position=p) for p, n in enumerate(spec["numbers"])],
                )
            )
        s.flush()
        return c.id


def row(repo: Repository, external_id: str = "C0", campaign_id: int | None = None) -> Contact:
    with repo.sessions() as s:
        query = select(Contact).where(Contact.external_id == external_id)
        if campaign_id is not None:
            query = query.where(Contact.campaign_id == campaign_id)
        return s.scalars(query).one()


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026 in New York (UTC-5)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) + timedelta(hours=5)


def test_retry_due_after_the_21h_window_end_waits_for_the_next_morning(
    clocked: tuple[Repository, Clock],
) -> None:
    repo, clock = clocked
    cid = add(repo, [{"numbers": [NY_NUMBER]}], {"policy": "us-regf", "timezone": "America/New_York"})
    clock.now = ny(23, 20, 50)
    plan = repo.claim_next(cid)
    assert plan is not None
    clock.now = ny(23, 20, 56)
    repo.finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")  # retry at 21:06: closed
    assert row(repo).next_attempt_at == ny(24, 8)  # parked: the due query skips it until then
    assert repo.claim_next(cid, ny(23, 21, 10)) is None
    assert repo.claim_next(cid, ny(24, 7, 59)) is None
    assert repo.claim_next(cid, ny(24, 8)) is not None


def test_a_batch_claims_only_contacts_inside_their_own_window(clocked: tuple[Repository, Clock]) -> None:
    repo, clock = clocked
    contacts = [
        {"numbers": [NY_NUMBER]},
        {"numbers": [LA_NUMBER]},
        {"numbers": ["+12125550000"], "tz": "Asia/Tokyo"},
    ]
    cid = add(repo, contacts, {"timezone": "America/New_York", "windows": {"mon-fri": "09:00-20:00"}})
    plans = repo.claim(cid, 10, ny(23, 10))  # 10:00 New York, 07:00 Los Angeles, 00:00 Tokyo
    assert [p.number for p in plans] == [NY_NUMBER]
    assert row(repo, "C1").next_attempt_at == ny(23, 12)  # 09:00 in Los Angeles
    assert row(repo, "C2").next_attempt_at == ny(23, 19)  # 09:00 Tuesday in Tokyo
    assert [p.number for p in repo.claim(cid, 10, ny(23, 12))] == [LA_NUMBER]


def test_rolling_seven_day_cap_across_retries(clocked: tuple[Repository, Clock]) -> None:
    repo, clock = clocked
    cid = add(
        repo,
        [{"numbers": [NY_NUMBER]}],
        {"policy": "us-regf", "timezone": "America/New_York", "caps": {"per_7_days": 2}},
    )
    for day in (23, 24):
        clock.now = ny(day, 10)
        plan = repo.claim_next(cid)
        assert plan is not None
        repo.finish(plan.attempt_id, dial_result=DialResult.NO_ANSWER, reason="rang out")
    assert row(repo).next_attempt_at == ny(30, 10)  # a week after the first of the two
    assert repo.claim_next(cid, ny(30, 9, 59)) is None
    assert repo.claim_next(cid, ny(30, 10)) is not None


def test_holiday_in_the_contacts_zone(clocked: tuple[Repository, Clock]) -> None:
    repo, _ = clocked
    cid = add(
        repo,
        [{"numbers": [NY_NUMBER]}],
        {"timezone": "America/New_York", "windows": {"daily": "09:00-20:00"}, "holidays": ["11-26"]},
    )
    assert repo.claim_next(cid, ny(26, 10)) is None  # Thanksgiving
    assert row(repo).next_attempt_at == ny(27, 9)


def test_dnc_entry_added_mid_campaign_is_never_dialled(
    clocked: tuple[Repository, Clock], tmp_path: Path
) -> None:
    repo, clock = clocked
    schedule = {"timezone": "America/New_York"}
    first = add(repo, [{"numbers": [NY_NUMBER]}], schedule, "first")
    second = add(repo, [{"numbers": [NY_NUMBER]}], None, "second")
    plan = repo.claim_next(first)
    assert plan is not None
    repo.finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="busy")
    listed = tmp_path / "dnc.txt"
    listed.write_text("# our own list\n212 555 1234\n")
    with repo.sessions.begin() as s:
        report = import_dnc(s, listed, "complaints", "US")
    assert (report.added, report.rejections) == (1, [])
    clock.now += timedelta(hours=1)
    assert repo.claim_next(first) is None and repo.claim_next(second) is None  # every campaign checks
    assert row(repo, campaign_id=first).disposition == Disposition.SUPPRESSED
    assert row(repo, campaign_id=second).disposition == Disposition.SUPPRESSED


def test_policy_ar_dials_only_once_the_registro_no_llame_is_loaded(
    clocked: tuple[Repository, Clock], tmp_path: Path
) -> None:
    repo, clock = clocked
    cid = add(
        repo,
        [{"numbers": ["+5491112345678"]}, {"numbers": ["+5491187654321"]}],
        {"policy": "ar"},
        region="AR",
    )
    clock.now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 11:00 in Buenos Aires
    assert repo.claim(cid, 5) == []
    rnl = tmp_path / "rnl.csv"
    rnl.write_text("numero;motivo\n011 15-8765-4321;inscripto\n")
    with repo.sessions.begin() as s:
        assert import_dnc(s, rnl, "registro-no-llame", "AR").added == 1
    assert [p.number for p in repo.claim(cid, 5)] == ["+5491112345678"]
    assert repo.claim(cid, 5, datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == []  # 20:30 there


def test_reminder_rounds_bring_a_reached_contact_back_on_the_next_day(
    clocked: tuple[Repository, Clock],
) -> None:
    repo, clock = clocked
    cid = add(
        repo,
        [{"numbers": [NY_NUMBER], "fields": {"due_date": "2026-11-27"}}],
        {
            "timezone": "America/New_York",
            "windows": {"daily": "09:00-20:00"},
            "reminders": {"field": "due_date", "days": [-3, 0]},
        },
    )
    assert repo.claim_next(cid, ny(23, 10)) is None  # four days before: not a round day
    assert row(repo).next_attempt_at == ny(24, 9)
    clock.now = ny(24, 9)
    plan = repo.claim_next(cid)
    assert plan is not None
    repo.finish(plan.attempt_id, outcome=Outcome.ANSWERED, reason="message completed")
    c = row(repo)
    assert (c.disposition, c.attempts, c.next_attempt_at) == (Disposition.PENDING, 0, ny(27, 9))
    clock.now = ny(27, 9, 30)
    plan = repo.claim_next(cid)
    assert plan is not None
    repo.finish(plan.attempt_id, outcome=Outcome.ANSWERED, reason="message completed")
    assert row(repo).disposition == Disposition.REACHED  # no round left
    assert repo.finish_campaign_if_settled(cid)


def test_a_crowd_outside_its_window_does_not_starve_contacts_that_are_due(
    clocked: tuple[Repository, Clock],
) -> None:
    repo, _ = clocked
    crowd = [{"numbers": [f"+1212555{i:04d}"]} for i in range(600)]  # New York, closed at 22:00
    cid = add(repo, [*crowd, {"id": "LA", "numbers": [LA_NUMBER]}], {"windows": {"daily": "09:00-21:00"}})
    plans = repo.claim(cid, 1, ny(23, 22))  # 19:00 in Los Angeles
    assert [p.number for p in plans] == [LA_NUMBER]
    assert row(repo, "C0").next_attempt_at == ny(24, 9)
