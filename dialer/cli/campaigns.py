"""`dialer campaign ...`, `dialer contacts import`, `dialer dnc import` and `dialer export`: what an
operator hands in and takes out of a campaign."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from dialer.campaigns import states
from dialer.campaigns.contacts_import import CsvFileError, import_contacts
from dialer.campaigns.dnc_import import import_dnc
from dialer.campaigns.exports import export_attempts
from dialer.campaigns.files import CampaignFileError, load_campaign_file
from dialer.cli import views
from dialer.sms.outbox import sms_parts
from dialer.cli.common import AtOpt, CampaignArg, DbUrlOpt, _at, _campaign_named, _fail, _print_import, _session, console
from dialer.config import database_url
from dialer.reports.explain import NO_SCHEDULE, preview
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.storage.scheduling import schedule_for
from scheduler.windows import ScheduleError

campaign_app = typer.Typer(help="Campaigns: create from a file, list, show, start, pause, resume, stop.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts of a campaign.", no_args_is_help=True)
dnc_app = typer.Typer(help="The do-not-call list, checked at dial time by every campaign.", no_args_is_help=True)

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
        created = states.create(session, spec)
        console.print(f"campaign {created.name!r} created (draft): import contacts, then dialer campaign start {created.name}")
        if "sms" in spec.settings:  # what each SMS text costs in parts (sample values)
            for line in sms_parts(created):
                console.print(line, highlight=False)


@campaign_app.command("list")
def campaign_list(url: DbUrlOpt = None) -> None:
    """Every campaign with its state, contacts and attempts."""
    with _session(url) as session:
        console.print(views.campaign_list(states.summaries(session)))


@campaign_app.command("show")
def campaign_show(name: CampaignArg, url: DbUrlOpt = None) -> None:
    """One campaign: its settings, contacts and attempts."""
    with _session(url) as session:
        found = states.find(session, name)
        (summary,) = [r for r in states.summaries(session) if r.name == name]
        console.print(views.campaign_details(found, summary))


def _transition(command: str, name: str, url: str | None) -> None:
    with _session(url, write=True) as session:
        before, after = states.transition(session, name, command)
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
    for step, count in sorted(result.next_steps.items()):  # the contact strategy, when the campaign has one
        console.print(f"{step}: {count} contacts", highlight=False)


@contacts_app.command("import")
def contacts_import(
    campaign: Annotated[str, typer.Argument(help="Campaign name.")],
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8 or Latin-1; , ; or tab).", exists=True, dir_okay=False)],
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="COLUMN=FIELD: external_id, name, timezone, phone, or any field (amount, due_date, ...).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, import nothing.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Any rejected row rejects the whole file.")] = False,
    workers: Annotated[int | None, typer.Option(
        min=0, help="Processes that check rows (default: one per core for files of 4 MB and more; 0: none).")] = None,
    url: DbUrlOpt = None,
) -> None:
    """Import contacts; every rejected row is printed as FILE:LINE: FIELD: REASON."""
    mapping: dict[str, str] = {}
    for item in map_ or []:
        column, sep, target = item.partition("=")
        if not sep or not column or not target:
            _fail(f"--map {item!r}: expected COLUMN=FIELD")
        mapping[column] = target
    engine = db.make_engine(url or database_url())
    try:
        with db.session_factory(engine).begin() as session:
            found = _campaign_named(session, campaign)
            try:
                report = import_contacts(session, found, file, mapping=mapping, dry_run=dry_run, strict=strict,
                                         workers=workers)
            except CsvFileError as exc:
                _fail(str(exc))
            for line in report.lines():
                print(line, file=sys.stderr)  # plain FILE:LINE: lines, for editors and grep
    finally:
        engine.dispose()
    if strict and report.rejected:
        console.print(f"rows read {report.rows_read}: nothing imported (--strict), {report.rejected} rejected")
        raise typer.Exit(1)
    verb = "would import" if dry_run else "imported"
    console.print(f"rows read {report.rows_read} = {verb} {report.imported} + rejected {report.rejected}")


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
    _print_import(report.lines(), report.rows_read, strict, f" = added {report.added} + already listed {report.already}")


def export(
    campaign: Annotated[str, typer.Argument(help="Campaign name.")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV file to write (default: standard output).")] = None,
    url: DbUrlOpt = None,
) -> None:
    """Every attempt of a campaign as CSV, safe to open in a spreadsheet."""
    with _session(url) as session:
        found = _campaign_named(session, campaign)
        with open(out, "w", newline="", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout) as fh:
            count = export_attempts(session, found.id, fh)
    if out:
        console.print(f"{count} attempts written to {out}")
