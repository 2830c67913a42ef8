"""The `dialer` command: the composition root. Nothing imports this module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from sqlalchemy import select
from sqlalchemy.orm import Session
from rich.table import Table

from dialer.ami import AmiError
from dialer.config import AgiSettings, AmiSettings, ConfigError, EngineSettings, MqttSettings, database_url, node_name
from dialer.exports import export_attempts, write_rows
from prompts.cache import PromptCache
from prompts.tts import TtsError
from dialer.engine import SWITCH_INTERVAL_S, Engine
from dialer.ivr.host import IvrHost
from dialer.events import MqttPublisher
from dialer.storage.repository import Repository
from dialer.contacts_import import CsvFileError, import_contacts
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.sandbox.chroot import SUITES, SandboxError
from dialer.sandbox.demo import run_demo
from dialer.sandbox.instance import Sandbox
from dialer import campaigns, reports, views
from dialer.campaign_file import CampaignFileError, load_campaign_file
from dialer.dnc_import import import_dnc
from dialer.schedule_report import NO_SCHEDULE, NotFound, explain_contact, find_contacts, preview
from dialer.storage.scheduling import schedule_for
from scheduler.windows import ScheduleError

app = typer.Typer(help="Outbound IVR dialer for Asterisk.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The real Asterisk test bed (a Debian chroot).", no_args_is_help=True)
db_app = typer.Typer(help="The dialer's SQL database.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts of a campaign.", no_args_is_help=True)
prompts_app = typer.Typer(help="Prompt audio (text-to-speech, cache).", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
app.add_typer(contacts_app, name="contacts")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(db_app, name="db")
campaign_app = typer.Typer(help="Campaigns: create from a file, list, show, start, pause, resume, stop.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
# Piped output (logs, CI) keeps whole table rows instead of wrapping at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SuiteOpt = Annotated[str, typer.Option(help=f"Debian suite: {', '.join(f'{k} (Asterisk {v})' for k, v in SUITES.items())}")]
AmiPortOpt = Annotated[int, typer.Option(envvar="DIALER_AMI_PORT", help="AMI port of this sandbox.")]
AgiPortOpt = Annotated[int, typer.Option(envvar="DIALER_AGI_PORT", help="FastAGI port the dialplan calls.")]


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


@contacts_app.command("import")
def contacts_import(
    campaign: Annotated[str, typer.Argument(help="Campaign name.")],
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8 or Latin-1; , ; or tab).", exists=True, dir_okay=False)],
    map_: Annotated[list[str] | None, typer.Option("--map", help="COLUMN=FIELD (external_id, name, timezone, phone).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, import nothing.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Any rejected row rejects the whole file.")] = False,
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
                report = import_contacts(session, found, file, mapping=mapping, dry_run=dry_run, strict=strict)
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


@prompts_app.command("say")
def prompts_say(
    text: Annotated[str, typer.Argument(help="What to say.")],
    lang: Annotated[str, typer.Option("--lang", help="es, en or pl.")] = "es",
    backend: Annotated[str, typer.Option(help="espeak-ng (offline) or gtts (online).")] = "espeak-ng",
    fallback: Annotated[str | None, typer.Option(help="Backend to use when the first is unavailable.")] = None,
) -> None:
    """Render one text (or find it in the cache) and print the audio file's path."""
    try:
        path = PromptCache().render(text, lang, backend_name=backend, fallback=fallback)
    except TtsError as exc:
        _fail(str(exc))
    console.print(str(path), highlight=False)


@prompts_app.command("render")
def prompts_render(
    campaign: Annotated[str, typer.Argument(help="Campaign name.")],
    days: Annotated[int, typer.Option(help="Render date read-backs this many days beyond each capture's range.")] = 7,
    workers: Annotated[int | None, typer.Option(help="Renders side by side (default: one per core).")] = None,
    url: DbUrlOpt = None,
) -> None:
    """Render everything the campaign will play (pending contacts' sentences included)."""
    from datetime import date

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from dialer.ivr import prerender
    from dialer.ivr.flow import FlowError
    from prompts.templates import TemplateError

    with _session(url) as session:
        found = _campaign_named(session, campaign)
        try:
            plan = prerender.plan(session, found, date.today(), days)
        except (FlowError, TemplateError) as exc:
            _fail(f"campaign {campaign}: {exc}")
    for line in plan.errors:
        print(f"{campaign}: {line}", file=sys.stderr)
    columns = (TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task("render", total=len(plan.jobs))
        try:
            rendered = prerender.render(plan, workers, progress=lambda _job: bar.advance(task))
        except TtsError as exc:
            _fail(str(exc))
    console.print(
        f"campaign {campaign}: {len(plan.jobs)} prompts for {plan.contacts} pending contacts: "
        f"{rendered} rendered, {len(plan.jobs) - rendered} already in the cache"
    )
    if plan.errors:
        _fail(f"{len(plan.errors)} contacts cannot be spoken to (listed above); the daemon will not dial the campaign")


@app.command("export")
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


@app.command("run")
def run(
    url: DbUrlOpt = None,
    agi_url: Annotated[str | None, typer.Option(envvar="DIALER_AGI_URL", help="FastAGI URL the dialplan calls.")] = None,
    drain_timeout: Annotated[float, typer.Option(help="Seconds live calls may take to end on SIGTERM.")] = 30.0,
    trunk_cap: Annotated[
        list[str] | None, typer.Option(help="TRUNK_TEMPLATE=N: live calls on one trunk, all campaigns together.")
    ] = None,
) -> None:
    """The daemon: dial every active campaign until SIGTERM/SIGINT, then drain and exit 0."""
    caps: dict[str, int] = {}
    for item in trunk_cap or []:
        template, sep, number = item.rpartition("=")
        if not sep or not template or not number.isdigit() or int(number) < 1:
            _fail(f"--trunk-cap {item!r}: expected TRUNK_TEMPLATE=N with N >= 1")
        caps[template] = int(number)
    logging.getLogger().setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:  # journal-friendly: stdout, the journal adds the time
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            handler.setStream(sys.stdout)
    for noisy in ("panoramisk", "alembic", "mqtt"):  # mqtt: aiomqtt's logger
        logging.getLogger(noisy).setLevel(logging.WARNING)
    target = url or database_url()
    if db.current_revision(target) != db.head_revision():
        _fail(f"database {db.redact(target)} is not at the newest schema: run dialer db upgrade")
    settings = EngineSettings(
        agi_url=agi_url or AgiSettings.from_env().url, drain_timeout_s=drain_timeout, trunk_caps=caps
    )
    try:
        mqtt = MqttSettings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    publisher = MqttPublisher(mqtt) if mqtt is not None else None
    repo = Repository(db.session_factory(db.make_engine(target)), node=node_name())
    ivr = IvrHost(repo.sessions, AgiSettings.from_env())  # FastAGI: the flows of answered calls
    engine = Engine(repo, AmiSettings.from_env(), settings, ivr, events=publisher)

    sys.setswitchinterval(SWITCH_INTERVAL_S)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if publisher is None:
            await engine.run(stop)
            return
        async with publisher:  # live events; closing sends what the broker takes within 5 s
            await engine.run(stop)

    try:
        asyncio.run(main())
    except AmiError as exc:
        _fail(f"cannot start: {exc}")
    except OSError as exc:  # the FastAGI port is taken or not ours to bind
        _fail(f"cannot start the FastAGI server on {ivr.listen.host}:{ivr.listen.port}: {exc}")


@sandbox_app.command("up")
def sandbox_up(suite: SuiteOpt = "sid", ami_port: AmiPortOpt = 5038, agi_port: AgiPortOpt = 4573) -> None:
    """Build the chroot once, install asterisk_conf/, start Asterisk, wait for FullyBooted."""
    if os.geteuid() != 0:
        _fail("the sandbox needs root (chroot, mount)")
    try:
        status = Sandbox(suite, ami_port, agi_port).up(progress=lambda m: err.print(m, highlight=False))
    except (SandboxError, ConfigError) as exc:
        _fail(str(exc))
    console.print(f"Asterisk {status.version} up (pid {status.pid}), AMI on 127.0.0.1:{ami_port}")


@sandbox_app.command("down")
def sandbox_down(suite: SuiteOpt = "sid", ami_port: AmiPortOpt = 5038) -> None:
    """Stop the sandbox's Asterisk (orderly, killed after a deadline)."""
    ran = Sandbox(suite, ami_port).down()
    console.print("stopped" if ran else "was not running")


@sandbox_app.command("status")
def sandbox_status(suite: SuiteOpt = "sid", ami_port: AmiPortOpt = 5038) -> None:
    """Asterisk version, process and whether AMI answers; exit 1 when AMI does not."""
    status = Sandbox(suite, ami_port).status()
    process = f"running (pid {status.pid})" if status.running else "not running"
    console.print(f"Asterisk: {status.version or 'unknown'}\nprocess: {process}")
    if status.ami_up:
        console.print(f"AMI: up on 127.0.0.1:{ami_port}, {status.channels} live channels")
    else:
        console.print(f"AMI: down on 127.0.0.1:{ami_port} ({status.detail})")
        raise typer.Exit(1)


@sandbox_app.command("cli")
def sandbox_cli(
    command: Annotated[str | None, typer.Argument(help="One CLI command; none for a console.")] = None,
    suite: SuiteOpt = "sid",
    ami_port: AmiPortOpt = 5038,
) -> None:
    """The sandbox's Asterisk CLI (asterisk -r)."""
    try:
        code = Sandbox(suite, ami_port).cli(command)
    except SandboxError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


@sandbox_app.command("demo")
def sandbox_demo(
    suite: SuiteOpt = "sid",
    ami_port: AmiPortOpt = 5038,
    agi_port: AgiPortOpt = 4573,
    url: Annotated[str | None, typer.Option("--url", help="Database for the demo (default: a fresh SQLite file).")] = None,
) -> None:
    """A collections campaign of 34 simulated customers, end to end through the CLI, then its report."""
    from dialer.config import cache_dir
    from dialer.sandbox.demo_campaign import run_demo_campaign

    workdir = cache_dir() / "demo"
    if url is None:
        (workdir / "demo.db").unlink(missing_ok=True)
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{workdir / 'demo.db'}"
    try:
        report = run_demo_campaign(Sandbox(suite, ami_port, agi_port), workdir, url,
                                   say=lambda line: console.print(line, highlight=False, markup=False))  # fmt: skip
    except (RuntimeError, SandboxError) as exc:
        _fail(f"{exc} (is the sandbox up? dialer sandbox up)")
    print(report.stdout, end="")
    if report.returncode != 0:
        _fail(report.stderr.strip())


@sandbox_app.command("probe")
def sandbox_probe(ami_port: AmiPortOpt = 5038) -> None:
    """Call every simulated customer once, side by side, and print what Asterisk reported."""
    try:
        rows = asyncio.run(run_demo(AmiSettings(port=ami_port)))
    except AmiError as exc:
        _fail(f"{exc} (is the sandbox up? dialer sandbox up)")
    table = Table(title="One call to each simulated customer")
    for col in ("customer", "number", "originate", "reason", "AMD", "hangup cause", "seconds"):
        table.add_column(col)
    for what, r in rows:
        amd = f"{r.amd_status} ({r.amd_cause})" if r.amd_status else "-"
        cause = "-" if r.hangup_cause is None else str(r.hangup_cause)
        table.add_row(what, r.number, r.response, f"{r.reason} {r.reason_text}", amd, cause, f"{r.seconds:.1f}")
    console.print(table)


# -- FastAGI -----------------------------------------------------------------------------
agi_app = typer.Typer(help="The FastAGI server that runs the IVR flows.", no_args_is_help=True)
app.add_typer(agi_app, name="agi")


@agi_app.command("serve")
def agi_serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: DIALER_AGI_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: DIALER_AGI_PORT, 4573; 0: any free port).")] = None,
    drain_timeout: Annotated[float, typer.Option(help="Seconds running calls may take to end on SIGTERM.")] = 10.0,
) -> None:
    """Run only the FastAGI server (flows of dialer.ivr.flows) until SIGTERM/SIGINT."""
    from dialer.ivr.fastagi import FastAgiServer, flows_handler_for

    settings = AgiSettings.from_env()
    logging.getLogger().setLevel(logging.INFO)
    server = FastAgiServer(flows_handler_for(), host or settings.host, settings.port if port is None else port)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        print(f"FastAGI listening on {server.host}:{server.port}", flush=True)
        await stop.wait()
        await server.close(drain_timeout)

    try:
        asyncio.run(serve())
    except OSError as exc:
        _fail(f"cannot listen on {server.host}:{server.port}: {exc}")


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


if __name__ == "__main__":
    app()
