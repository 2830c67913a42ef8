"""SQL that does not answer (issue 12, item 3): timeouts that really end the work, and claims that
commit after the engine gave up on them found by their token and undone.

Real parts: a throw-away PostgreSQL server, SQLite files, real locks taken by a second
connection, a TCP listener that never answers; the AMI peer is the scripted fake.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from dialer.config import AmiSettings, EngineSettings
from dialer.domain import AttemptState, DialResult
from dialer.engine import Engine
from dialer.storage import db
from dialer.storage.claims import Plan
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlTimeout, SqlWorker
from tests.campaigns import attempts, contacts, make_campaign, storage_url
from tests.fake_ami import FakeAmi
from tests.test_engine_faults import fake  # noqa: F401 - the scripted AMI peer (busy customers)

NUMBERS = [f"+3464100{i:04d}" for i in range(6)]
TRUNK = "Local/{number}@x"


# -- the SQL worker: the dialer's own threads ------------------------------------------------------
async def test_a_job_still_queued_at_its_deadline_never_runs_and_a_running_one_is_handed_back() -> None:
    worker = SqlWorker("test-sql", threads=1, timeout_s=0.2)
    release, ran = threading.Event(), list[str]()
    stuck = worker.submit(release.wait, 10)
    with pytest.raises(SqlTimeout) as running:
        await worker.wait(stuck)
    assert running.value.job is stuck and stuck.running()  # the caller can tell when it is over
    with pytest.raises(SqlTimeout, match="never started"):
        await worker.run(ran.append, "late")
    release.set()
    await worker.run(time.sleep, 0)  # the thread is free again
    assert ran == [] and stuck.done()  # the job given up on while queued never ran
    worker.close()


# -- PostgreSQL: connect timeout, keepalives, statement timeout, pre-ping --------------------------
def _in_thread(fn: Callable[[], Any], limit_s: float) -> tuple[BaseException | None, float]:
    """Run fn in a daemon thread; (its exception, seconds taken). Fails the test if it hangs."""
    box: list[BaseException | None] = []
    started = time.monotonic()

    def work() -> None:
        try:
            fn()
            box.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"still blocked after {limit_s} s"
    return box[0], time.monotonic() - started


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a server hung, or half-open)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_postgresql_server_that_never_answers_fails_the_connect_in_time(silent_server: int) -> None:
    url = f"postgresql+psycopg://dialer@127.0.0.1:{silent_server}/dialer"
    engine = db.make_engine(url, connect_timeout_s=2)
    error, took = _in_thread(lambda: engine.connect().close(), limit_s=15)
    assert isinstance(error, OperationalError) and took < 8, (error, took)
    engine.dispose()


def test_postgresql_links_have_keepalives_and_the_daemon_a_statement_timeout(postgres_server: str) -> None:
    engine = db.make_engine(postgres_server, statement_timeout_s=0.5)
    with engine.connect() as conn:
        params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert params["keepalives"] == "1" and params["keepalives_idle"] == "10"
        assert params["tcp_user_timeout"] == "30000" and params["connect_timeout"] == "5"
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "500ms"
    error, took = _in_thread(lambda: _sleep_in_sql(engine, 5), limit_s=10)
    assert isinstance(error, OperationalError) and "statement timeout" in str(error) and took < 3
    engine.dispose()
    cli = db.make_engine(postgres_server)  # CLI commands (imports, reports) get no statement timeout
    with cli.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    cli.dispose()


def _sleep_in_sql(engine: Any, seconds: float) -> None:
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_sleep({seconds})"))


def test_a_pooled_postgresql_connection_killed_by_the_server_is_replaced(postgres_server: str) -> None:
    engine = db.make_engine(postgres_server)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = db.make_engine(postgres_server)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()
    time.sleep(0.2)
    with engine.connect() as conn:  # the pool pings it first and opens a new one
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    engine.dispose()


# -- claims that commit after the engine gave up on them ------------------------------------------
def _lock_contacts(url: str, hold_s: float) -> threading.Event:
    """In a thread: a second connection takes a real write lock on the contacts for `hold_s`,
    then lets go without writing. Returns the event set once the lock is held."""
    held = threading.Event()

    def hold() -> None:
        if url.startswith("sqlite"):
            conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")  # the write lock: a claim's UPDATE waits (busy timeout)
        else:
            dsn = url.replace("postgresql+psycopg", "postgresql")
            import psycopg

            conn = psycopg.connect(dsn)  # type: ignore[assignment]
            conn.execute("LOCK TABLE contact IN SHARE ROW EXCLUSIVE MODE")  # reads pass, updates wait
        held.set()
        time.sleep(hold_s)
        conn.rollback()
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    return held


class LockedFirstClaim(Repository):
    """The first claim meets a lock another connection holds for longer than the engine waits.
    Later claims reach SQL only once the first is over: else one the engine still waits for can
    win the lock at its release, take the campaign's room, and leave the claims given up on
    nothing to commit (seen once on a loaded box)."""

    def __init__(self, url: str, hold_s: float, **kw: Any) -> None:
        super().__init__(db.session_factory(db.make_engine(url)), **kw)
        self.url, self.hold_s, self.locked = url, hold_s, False
        self.first_over = threading.Event()

    def claim(self, campaign_id: int, limit: int, now: Any = None, **kwargs: Any) -> list[Plan]:
        if self.locked:
            assert self.first_over.wait(self.hold_s + 10)
            return super().claim(campaign_id, limit, now, **kwargs)
        self.locked = True
        assert _lock_contacts(self.url, self.hold_s).wait(5)
        try:
            return super().claim(campaign_id, limit, now, **kwargs)
        finally:
            self.first_over.set()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return storage_url(request, tmp_path)


async def test_a_claim_that_commits_after_its_timeout_is_undone_and_never_sent(
    url: str, fake: FakeAmi, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    cid = make_campaign(url, "late-claim", NUMBERS, render=False, max_concurrent=3, calls_per_second=100,
                        trunk_template=TRUNK)  # fmt: skip
    repo = LockedFirstClaim(url, hold_s=2.0)
    engine = Engine(repo, AmiSettings(port=fake.port), EngineSettings(poll_s=0.05, sql_timeout_s=0.5))
    caplog.set_level(logging.WARNING, logger="dialer.engine")
    await engine.run_until_finished([cid], timeout=30)
    undone = [r for r in caplog.records if "committed after the engine gave up" in r.getMessage()]
    assert undone, "the first claim should have committed after the engine stopped waiting for it"
    rows = attempts(url, cid)
    assert len(rows) == len(NUMBERS) and {(a.state, a.dial_result) for a in rows} == {(AttemptState.ENDED,
                                                                                       DialResult.BUSY)}
    # the claim undone counts for nothing
    assert [c.attempts for c in contacts(url, cid)] == [1] * len(NUMBERS)
    assert len(fake.actions("Originate")) == len(NUMBERS)  # each contact sent once


async def test_claims_an_earlier_run_never_sent_are_undone_at_start(
    url: str, fake: FakeAmi, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    cid = make_campaign(url, "crashed", NUMBERS[:3], render=False, calls_per_second=100, trunk_template=TRUNK)
    crashed = Repository(db.session_factory(db.make_engine(url)), node="host-a")
    assert len(crashed.claim(cid, 2)) == 2  # committed, then the daemon died before its Originates left
    repo = Repository(db.session_factory(db.make_engine(url)), node="host-a")
    engine = Engine(repo, AmiSettings(port=fake.port), EngineSettings(poll_s=0.05))
    caplog.set_level(logging.WARNING, logger="dialer.engine")
    await engine.run_until_finished([cid], timeout=30)
    assert any("claimed by an earlier run and never sent: undone" in r.getMessage() for r in caplog.records)
    rows = attempts(url, cid)
    assert len(rows) == 3 and {a.dial_result for a in rows} == {DialResult.BUSY}  # no `unknown` attempt
    assert [c.attempts for c in contacts(url, cid)] == [1, 1, 1]
