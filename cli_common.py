"""What every `dialer` command shares: the typer app, consoles, options, one-line failures and
sessions. Only the cli*.py modules import it."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.config import database_url
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer import campaigns


app = typer.Typer(help="Outbound IVR dialer for Asterisk.", no_args_is_help=True)
# Piped output (logs, CI) keeps whole table rows instead of wrapping at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@contextlib.contextmanager
def _session(url: str | None, write: bool = False) -> Iterator[Session]:
    """A session on the dialer's database (a transaction if `write`); a CampaignError becomes one
    clear line and exit 1; the engine is disposed on the way out."""
    engine = db.make_engine(url or database_url())
    try:
        factory = db.session_factory(engine)
        with factory.begin() if write else factory() as session:
            yield session
    except campaigns.CampaignError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()


def _campaign_named(session: Session, name: str) -> Campaign:
    found = session.scalars(select(Campaign).where(Campaign.name == name)).one_or_none()
    if found is None:
        _fail(f"unknown campaign {name!r}")
    return found  # type: ignore[return-value]


DbUrlOpt = Annotated[str | None, typer.Option("--url", help="SQLAlchemy URL (default: DIALER_DB_URL, else SQLite).")]


