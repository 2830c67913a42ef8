"""Engine, sessions and schema upgrades for any SQLAlchemy URL (SQLite by default).

PostgreSQL links are never trusted to fail by themselves: a connect timeout, TCP keepalives and
a TCP user timeout (a half-open link is dropped within about 30 s instead of hanging for the
kernel's 15 minutes of retransmissions), a ping before a pooled connection is reused, and for
the daemon a statement timeout, so SQL stuck in a worker thread ends there too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_FILE_MODE = 0o600
PG_CONNECT_TIMEOUT_S = 5
# idle links are probed after 10 s, every 5 s, 3 times; unacknowledged data gives up after 30 s
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                 "tcp_user_timeout": 30_000}  # fmt: skip
# the daemon's statements end before the engine stops waiting for them (SqlWorker, 10 s)
DAEMON_STATEMENT_TIMEOUT_S = 8.0


def make_engine(url: str, *, statement_timeout_s: float | None = None,
                connect_timeout_s: float = PG_CONNECT_TIMEOUT_S, **kwargs: Any) -> Engine:  # fmt: skip
    """An engine. SQLite gets WAL, a busy timeout and enforced foreign keys on every connection;
    PostgreSQL a connect timeout, TCP keepalives, pool pre-ping and, if given, a statement timeout."""
    if make_url(url).get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout_s)), **PG_KEEPALIVES}
        if statement_timeout_s is not None:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
        kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _create_private(engine.url.database)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not url.endswith(":memory:") and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a crash of the daemon
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def _create_private(path: str | None) -> None:
    """A new SQLite file is created 0600 (it holds contacts and amounts; SQLite would follow the
    umask). Its -wal and -shm files take the database file's mode."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return  # an existing database keeps its mode; a missing directory is SQLite's error to report
    os.fchmod(fd, SQLITE_FILE_MODE)
    os.close(fd)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def allow_slow_statements(session: Session, seconds: float) -> None:
    """Raise the statement timeout for this transaction only (PostgreSQL; a no-op elsewhere): for
    the few long reads of the daemon, such as the prompts check of a large campaign."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {int(seconds * 1000)}"))


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision`, keeping every row; returns (before, after) revisions."""
    before = current_revision(url)
    command.upgrade(_alembic_config(url), revision)
    after = current_revision(url)
    if before != after:
        log.info("database upgraded from %s to %s", before or "empty", after)
    return before, after


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
