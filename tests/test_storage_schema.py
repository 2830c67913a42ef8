"""The schema: `dialer db upgrade` on SQLite and PostgreSQL, rows kept, models and migrations agree."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from cli import app
from dialer.domain import AttemptState, DialResult
from dialer.storage import db
from dialer.storage.models import Attempt, Base, Campaign, Contact, Dnc, IvrEvent, Phone
from dialer.storage import sms_models  # noqa: F401 - the SMS tables join Base.metadata
from dialer.storage import web_models  # noqa: F401 - the web tables join Base.metadata
from dialer.storage import return_call_models  # noqa: F401 - its table joins Base.metadata
from dialer.storage import webhook_models  # noqa: F401 - the webhook tables join Base.metadata
from tests.conftest import fresh_postgres

TABLES = {"campaign", "contact", "phone", "attempt", "ivr_event", "dnc", "alembic_version"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dialer.db'}"
    return fresh_postgres(request.getfixturevalue("postgres_server"))


def _fill(url: str) -> str:
    now = datetime.now(UTC)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        campaign = Campaign(name="march-collections", created_at=now)
        contact = Contact(campaign=campaign, external_id="C-1", name="Ana", fields={"amount": "12500.00"},
                          created_at=now)  # fmt: skip
        phone = Phone(contact=contact, number="+34611100000")
        s.add_all([campaign, contact, phone, Dnc(number="+34699999999", source="test", added_at=now)])
        s.flush()
        attempt_id = str(uuid.uuid4())
        s.add(Attempt(id=attempt_id, campaign_id=campaign.id, contact_id=contact.id, phone_id=phone.id,
                      number=phone.number, created_at=now, state=AttemptState.ENDED,
                      dial_result=DialResult.BUSY, reason="originate reason 5"))  # fmt: skip
        s.add(IvrEvent(attempt_id=attempt_id, seq=1, at=now, kind="step", name="message"))
    engine.dispose()
    return attempt_id


def test_upgrade_creates_the_schema_at_head(url: str) -> None:
    assert db.upgrade(url) == (None, db.head_revision())
    engine = db.make_engine(url)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_agree(url: str) -> None:
    db.upgrade(url)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_second_upgrade_keeps_every_row(url: str) -> None:
    db.upgrade(url)
    attempt_id = _fill(url)
    assert db.upgrade(url) == (db.head_revision(), db.head_revision())
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None and attempt.dial_result is DialResult.BUSY
        assert s.scalars(select(Contact.fields)).one() == {"amount": "12500.00"}
        assert s.scalar(select(IvrEvent.name)) == "message"
        assert s.get(Dnc, "+34699999999") is not None
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_cli_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade", "--url", url])
    second = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert first.exit_code == 0 and f"upgraded from empty to {db.head_revision()}" in first.output
    assert second.exit_code == 0 and f"already at revision {db.head_revision()}" in second.output


def test_cli_db_upgrade_of_an_unreachable_server_is_one_clear_error() -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", "postgresql+psycopg://u:pw@127.0.0.1:1/x"])
    assert result.exit_code == 1
    assert "database upgrade of postgresql+psycopg://u:***@127.0.0.1:1/x failed" in result.output
    assert "pw@" not in result.output


def test_upgrading_an_older_database_keeps_its_rows(url: str) -> None:
    db.upgrade(url, "0001")
    engine = db.make_engine(url)
    with engine.begin() as conn:  # rows written by the 0001 schema, with plain SQL
        conn.execute(text("INSERT INTO campaign (id, name, state, flow, language, default_region, trunk_template,"
                          " max_concurrent, calls_per_second, ring_timeout_s, settings, created_at)"
                          " VALUES (1, 'old', 'active', 'notify', 'es', 'ES', 'Local/{number}@x', 5, 1.0, 30,"
                          " '{}', '2026-01-01 00:00:00+00:00')"))
        conn.execute(text("INSERT INTO contact (id, campaign_id, external_id, fields, disposition, created_at)"
                          " VALUES (1, 1, 'C-1', '{\"amount\": \"10\"}', 'pending', '2026-01-01 00:00:00+00:00')"))
    engine.dispose()
    assert db.upgrade(url) == ("0001", db.head_revision())
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        contact = s.scalars(select(Contact)).one()
        assert (contact.external_id, contact.fields, contact.attempts, contact.live_attempt_id) == (
            "C-1", {"amount": "10"}, 0, None)  # fmt: skip
    engine.dispose()
