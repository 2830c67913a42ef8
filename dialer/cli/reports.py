"""`dialer report`, `dialer status` and `dialer explain`: what comes out of the campaigns."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from dialer.campaigns import states
from dialer.campaigns.exports import write_rows
from dialer.cli import views
from dialer.cli.common import AtOpt, CampaignArg, DbUrlOpt, _at, _fail, _session, console
from dialer.config import database_url
from dialer.reports import campaign_report
from dialer.reports.explain import NotFound, explain_contact, find_contacts
from dialer.reports.status import status as campaign_status
from dialer.storage import db
from dialer.web.report_file import report_html
from dialer.web.settings import LANGUAGES
from scheduler.windows import ScheduleError


def report(
    campaign: CampaignArg,
    format_: Annotated[str, typer.Option("--format", help="table, csv, json or html (one standalone file).")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
    language: Annotated[str, typer.Option("--language", help="html: es, en or pl.")] = "en",
    url: DbUrlOpt = None,
) -> None:
    """Attempts, contact rate, machines, transfers, promises, drop-off funnel, key paths, cost."""
    if format_ not in ("table", "csv", "json", "html"):
        _fail(f"--format {format_!r}: expected table, csv, json or html")
    if format_ == "html":
        if language not in LANGUAGES:
            _fail(f"--language {language!r}: expected one of {', '.join(LANGUAGES)}")
        engine = db.make_engine(url or database_url())
        try:
            page = report_html(db.session_factory(engine), campaign, datetime.now(UTC), language)
        except states.CampaignError as exc:
            _fail(str(exc))
        finally:
            engine.dispose()
        if output is None:
            sys.stdout.write(page)
        else:
            output.write_text(page, encoding="utf-8")
        return
    if output is not None:
        _fail("--output is for --format html")
    with _session(url) as session:
        result = campaign_report.build_report(session, states.find(session, campaign))
    if format_ == "json":
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    elif format_ == "csv":
        write_rows(sys.stdout, ["section", "name", "value"], result.rows())
    else:
        console.print(views.report(result))


def status(
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    url: DbUrlOpt = None,
) -> None:
    """Live table of active and paused campaigns: live calls, calls/s, results so far (Ctrl-C ends)."""
    engine = db.make_engine(url or database_url())
    factory = db.session_factory(engine)

    def snapshot() -> Table:
        with factory() as session:
            return views.status(campaign_status(session, datetime.now(UTC)))

    try:
        if once:
            console.print(snapshot())
            return
        with Live(snapshot(), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(1.0)
                live.update(snapshot())
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()


def explain_cmd(
    contact: Annotated[str, typer.Argument(help="The contact's id from the import, or one of its numbers (+E.164).")],
    campaign: Annotated[str | None, typer.Option("--campaign", help="Campaign name, if the id is in several.")] = None,
    at: AtOpt = None,
    url: DbUrlOpt = None,
) -> None:
    """Why the contact is or is not due now, and when it next will be."""
    now = _at(at)
    with _session(url) as session:
        try:
            texts = [explain_contact(session, c, now) for c in find_contacts(session, contact, campaign)]
        except (NotFound, ScheduleError) as exc:
            _fail(str(exc))
    console.print("\n\n".join("\n".join(lines) for lines in texts), highlight=False)
