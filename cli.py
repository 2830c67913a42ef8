"""The `dialer` command: the composition root. Nothing imports this module.

Command groups live in cli_sandbox.py and cli_operator.py; what they share in cli_common.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from dialer.ami import AmiError
from dialer.config import AgiSettings, AmiSettings, ConfigError, EngineSettings, MqttSettings, database_url, node_name
from dialer.exports import export_attempts
from prompts.cache import PromptCache
from prompts.tts import TtsError
from dialer.engine import SWITCH_INTERVAL_S, Engine
from dialer.ivr.host import IvrHost
from dialer.events import MqttPublisher
from dialer.storage.repository import Repository
from dialer.contacts_import import CsvFileError, import_contacts
from dialer.storage import db

from cli_common import DbUrlOpt, _campaign_named, _fail, _session, app, console, err
import cli_operator  # noqa: F401,E402 - registers its commands on app
import cli_sandbox  # noqa: F401,E402 - registers its commands on app

db_app = typer.Typer(help="The dialer's SQL database.", no_args_is_help=True)
contacts_app = typer.Typer(help="Contacts of a campaign.", no_args_is_help=True)
prompts_app = typer.Typer(help="Prompt audio (text-to-speech, cache).", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
app.add_typer(contacts_app, name="contacts")
app.add_typer(db_app, name="db")

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


if __name__ == "__main__":
    app()
