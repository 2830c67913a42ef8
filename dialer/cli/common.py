"""What every `dialer` command shares: consoles, options, one-line failures and sessions. Only the
modules of dialer.cli import it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer.config import database_url
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.campaigns import states


# Piped output (logs, CI) keeps whole table rows instead of wrapping at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@contextlib.contextmanager
def _session(url: str | None, write: bool = False) -> Iterator[Session]:
    """A session on the dialer's database (a transaction if `write`); a CampaignError becomes one
    clear line and exit 1; the engine is disposed on the way out."""
    engine = db.make_engine(url or database_url())
    try:
        factory = db.session_factory(engine)
        with factory.begin() if write else factory() as session:
            yield session
    except states.CampaignError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()


@contextlib.contextmanager
def _sessions(url: str | None) -> Iterator[sessionmaker[Session]]:
    """A session factory on the dialer's database, for stores that open their own transactions."""
    engine = db.make_engine(url or database_url())
    try:
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def _print_import(lines: list[str], rows_read: int, strict: bool, summary: str) -> None:
    """An import's rejected lines (FILE:LINE: FIELD: REASON) on stderr, then its summary; with
    --strict and a rejected line, nothing was imported: exit 1."""
    for line in lines:
        print(line, file=sys.stderr)
    if strict and lines:
        console.print(f"lines read {rows_read}: nothing imported (--strict), {len(lines)} rejected")
        raise typer.Exit(1)
    console.print(f"lines read {rows_read}{summary} + rejected {len(lines)}", highlight=False)


def _campaign_named(session: Session, name: str) -> Campaign:
    found = session.scalars(select(Campaign).where(Campaign.name == name)).one_or_none()
    if found is None:
        _fail(f"unknown campaign {name!r}")
    return found  # type: ignore[return-value]


DbUrlOpt = Annotated[str | None, typer.Option("--url", help="SQLAlchemy URL (default: DIALER_DB_URL, else SQLite).")]
CampaignArg = Annotated[str, typer.Argument(help="Campaign name.")]
AtOpt = Annotated[str | None, typer.Option("--at", help="Pretend it is this time (ISO 8601, UTC if no offset).")]


def _at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at {text!r}: not an ISO 8601 time such as 2026-11-24T09:30")
    return at if at.tzinfo else at.replace(tzinfo=UTC)
