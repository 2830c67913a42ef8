"""dialer.reports.dashboard on SQLite and PostgreSQL: the campaigns' lines, calls/s, the hourly curve."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dialer.domain import AttemptState, DialResult, Disposition, Outcome
from dialer.reports import dashboard
from dialer.storage import db
from dialer.storage.models import Attempt, Contact
from tests.campaigns import make_campaign, storage_url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return storage_url(request, tmp_path)


def test_lines_rate_and_hours(url: str) -> None:
    cid = make_campaign(url, "june", [f"+3461110000{i}" for i in range(4)], render=False)
    make_campaign(url, "july", ["+34611100009"], render=False)
    now = datetime(2026, 6, 1, 14, 30, tzinfo=UTC)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        contacts = list(s.query(Contact).filter(Contact.campaign_id == cid).order_by(Contact.id))
        plan = [(contacts[0], now - timedelta(hours=1), None, Outcome.ANSWERED),  # 13:30: reached
                (contacts[1], now - timedelta(minutes=50), DialResult.BUSY, None),  # 13:40
                (contacts[1], now - timedelta(seconds=4), None, Outcome.MACHINE),  # 14:29:56: reached
                (contacts[2], now - timedelta(seconds=2), None, Outcome.UNKNOWN)]  # connected? no
        for contact, at, result, outcome in plan:
            s.add(Attempt(id=str(uuid.uuid4()), campaign_id=cid, contact_id=contact.id, phone_id=contact.phones[0].id,
                          number=contact.phones[0].number, created_at=at, originated_at=at, state=AttemptState.ENDED,
                          dial_result=result, outcome=outcome, reason="test"))  # fmt: skip
        contacts[0].disposition = Disposition.REACHED
        contacts[1].disposition = Disposition.REACHED
    with db.session_factory(engine)() as s:
        lines = {line.name: line for line in dashboard.campaign_lines(s)}
        rate = dashboard.calls_per_s(s, cid, now)
        hours = dashboard.hourly(s, cid)
    engine.dispose()
    june = lines["june"]
    assert (june.contacts, june.settled, june.progress_pct, june.attempts, june.live) == (4, 2, 50.0, 4, 0)
    assert june.contact_rate_pct == 66.7  # 2 reached of 3 attempted
    assert lines["july"].contact_rate_pct is None and lines["july"].progress_pct == 0.0
    assert rate == 0.2  # 2 originates in the last 10 s
    assert [(h.hour, h.attempts, h.connected, h.reached) for h in hours] == [
        ("2026-06-01T13:00Z", 2, 1, 1), ("2026-06-01T14:00Z", 2, 1, 1)]  # fmt: skip
