"""The operator's commands: campaign files and states, report, status, explain, preview, DNC."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from sqlalchemy import select
from rich.table import Table

from dialer.config import database_url
from dialer.exports import write_rows
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer import campaigns, reports, views
from dialer.campaign_file import CampaignFileError, load_campaign_file
from dialer.dnc_import import import_dnc
from dialer.schedule_report import NO_SCHEDULE, NotFound, explain_contact, find_contacts, preview
from dialer.storage.scheduling import schedule_for
from scheduler.windows import ScheduleError

from cli_common import DbUrlOpt, _fail, _session, app, console

campaign_app = typer.Typer(help="Campaigns: create from a file, list, show, start, pause, resume, stop.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")

# -- campaigns, report, status (operator CLI) --------------------------------------------------
CampaignArg = Annotated[str, typer.Argument(help="Campaign name.")]


@campaign_app.command("create")
def campaign_create(
    file: Annotated[Path, typer.Option("--file", "-f", help="campaign.toml (see examples/campaign.toml).")],
    url: DbUrlOpt = None,
) -> None:
    """Create a campaign (state draft) from a TOML file; every error is printed as FILE:LINE: KEY: reason."""
    try:
        spec = load_campaign_file(file)
    except CampaignFileError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)  # plain FILE:LINE: lines, for editors and grep
        _fail(f"{file}: {len(exc.errors)} error(s), no campaign created")
    with _session(url, write=True) as session:
        created = campaigns.create(session, spec)
        console.print(f"campaign {created.name!r} created (draft): import contacts, then dialer campaign start {created.name}")


@campaign_app.command("list")
def campaign_list(url: DbUrlOpt = None) -> None:
    """Every campaign with its state, contacts and attempts."""
    with _session(url) as session:
        console.print(views.campaign_list(campaigns.summaries(session)))


@campaign_app.command("show")
def campaign_show(name: CampaignArg, url: DbUrlOpt = None) -> None:
    """One campaign: its settings, contacts and attempts."""
    with _session(url) as session:
        found = campaigns.find(session, name)
        (summary,) = [r for r in campaigns.summaries(session) if r.name == name]
        console.print(views.campaign_details(found, summary))


def _transition(command: str, name: str, url: str | None) -> None:
    with _session(url, write=True) as session:
        before, after = campaigns.transition(session, name, command)
    console.print(f"campaign {name!r}: {before.value} -> {after.value} (the daemon follows within a second)")


@campaign_app.command("start")
def campaign_start(name: CampaignArg, url: DbUrlOpt = None) -> None:
    """draft -> active: the running daemon starts dialing within a second."""
    _transition("start", name, url)


@campaign_app.command("pause")
def campaign_pause(name: CampaignArg, url: DbUrlOpt = None) -> None:
    """active -> paused: no new calls; live calls end on their own."""
    _transition("pause", name, url)


@campaign_app.command("resume")
def campaign_resume(name: CampaignArg, url: DbUrlOpt = None) -> None:
    """paused -> active."""
    _transition("resume", name, url)


@campaign_app.command("stop")
def campaign_stop(name: CampaignArg, url: DbUrlOpt = None) -> None:
    """draft, active or paused -> stopped (final): no new calls, ever."""
    _transition("stop", name, url)


@app.command("report")
def report(
    campaign: CampaignArg,
    format_: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    url: DbUrlOpt = None,
) -> None:
    """Attempts, contact rate, machines, transfers, promises, drop-off funnel, key paths, cost."""
    if format_ not in ("table", "csv", "json"):
        _fail(f"--format {format_!r}: expected table, csv or json")
    with _session(url) as session:
        result = reports.build_report(session, campaigns.find(session, campaign))
    if format_ == "json":
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    elif format_ == "csv":
        write_rows(sys.stdout, ["section", "name", "value"], result.rows())
    else:
        console.print(views.report(result))


@app.command("status")
def status(
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    url: DbUrlOpt = None,
) -> None:
    """Live table of active and paused campaigns: live calls, calls/s, results so far (Ctrl-C ends)."""
    engine = db.make_engine(url or database_url())
    factory = db.session_factory(engine)

    def snapshot() -> Table:
        with factory() as session:
            return views.status(reports.status(session, datetime.now(UTC)))

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


# -- scheduling and compliance: explain, campaign preview, dnc import ----------------------------
dnc_app = typer.Typer(help="The do-not-call list, checked at dial time by every campaign.", no_args_is_help=True)
app.add_typer(dnc_app, name="dnc")
AtOpt = Annotated[str | None, typer.Option("--at", help="Pretend it is this time (ISO 8601, UTC if no offset).")]


def _at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at {text!r}: not an ISO 8601 time such as 2026-11-24T09:30")
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@app.command("explain")
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


@campaign_app.command("preview")
def campaign_preview(
    campaign: Annotated[str, typer.Argument(help="Campaign name.")],
    hours: Annotated[int, typer.Option("--hours", min=1, max=24 * 31, help="How many hours ahead.")] = 24,
    at: AtOpt = None,
    url: DbUrlOpt = None,
) -> None:
    """Dry run of the next hours: how many first calls fall due when, and who is blocked by what."""
    now = _at(at)
    with _session(url) as session:
        found = session.scalars(select(Campaign).where(Campaign.name == campaign)).one_or_none()
        if found is None:
            _fail(f"unknown campaign {campaign!r}")
        try:
            result = preview(session, found, now, hours)
            zone = (schedule_for(found) or NO_SCHEDULE).default_zones[0]
        except ScheduleError as exc:
            _fail(str(exc))
    console.print(f"campaign {result.campaign}: {result.pending} pending contacts\nschedule: {result.schedule}\n"
                  f"next {hours} h from {now:%Y-%m-%d %H:%M} UTC: {result.due} calls due ({result.due_now} now); "
                  f"the pacing allows {result.calls_per_hour:g} calls an hour", highlight=False)  # fmt: skip
    table = Table(title="contacts falling due, by hour")
    for col in ("hour (UTC)", f"local ({zone.key})", "contacts"):
        table.add_column(col)
    for hour, count in sorted(result.per_hour.items()):
        table.add_row(f"{hour:%a %m-%d %H:00}", f"{hour.astimezone(zone):%a %H:%M}", str(count))
    if result.per_hour:
        console.print(table)
    for code, count in result.blocked.most_common():
        console.print(f"blocked by {code}: {count} (e.g. {result.examples[code]})", highlight=False)


@dnc_app.command("import")
def dnc_import(
    file: Annotated[Path, typer.Argument(help="One number a line, or a CSV with a number column.", exists=True, dir_okay=False)],
    source: Annotated[str, typer.Option("--source", help="List name, e.g. registro-no-llame.")],
    region: Annotated[str, typer.Option("--region", help="Region for numbers written without +country.")] = "ES",
    strict: Annotated[bool, typer.Option("--strict", help="Any rejected line rejects the whole file.")] = False,
    url: DbUrlOpt = None,
) -> None:
    """Add numbers to the do-not-call list; every rejected line is printed as FILE:LINE: FIELD: REASON."""
    with _session(url) as session:
        try:
            report = import_dnc(session, file, source, region.upper(), strict=strict)
        except ValueError as exc:
            _fail(str(exc))
        session.commit()
    for line in report.lines():
        print(line, file=sys.stderr)
    if strict and report.rejections:
        console.print(f"lines read {report.rows_read}: nothing imported (--strict), {len(report.rejections)} rejected")
        raise typer.Exit(1)
    console.print(f"lines read {report.rows_read} = added {report.added} + already listed {report.already} "
                  f"+ rejected {len(report.rejections)}", highlight=False)  # fmt: skip


