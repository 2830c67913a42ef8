"""`dialer db upgrade`: the dialer's SQL schema."""

from __future__ import annotations

from dialer.cli.common import DbUrlOpt, _fail, console
from dialer.config import database_url
from dialer.storage import db

import typer

db_app = typer.Typer(help="The dialer's SQL database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(url: DbUrlOpt = None) -> None:
    """Create or upgrade the schema to the newest revision, keeping every row."""
    target = url or database_url()
    try:
        before, after = db.upgrade(target)
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
        _fail(f"database upgrade of {db.redact(target)} failed: {exc}")
    if before == after:
        console.print(f"{db.redact(target)}: already at revision {after}")
    else:
        console.print(f"{db.redact(target)}: upgraded from {before or 'empty'} to {after}")
