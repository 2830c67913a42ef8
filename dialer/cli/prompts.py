"""`dialer prompts say|render`: prompt audio rendered ahead of the calls."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dialer.cli.common import DbUrlOpt, _campaign_named, _fail, _session, console, err
from dialer.ivr import prerender
from dialer.ivr.flow import FlowError
from prompts.cache import PromptCache
from prompts.templates import TemplateError
from prompts.tts import TtsError

prompts_app = typer.Typer(help="Prompt audio (text-to-speech, cache).", no_args_is_help=True)


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
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
    url: DbUrlOpt = None,
) -> None:
    """Render everything the campaign will play (pending contacts' sentences included)."""
    with _session(url) as session:
        found = _campaign_named(session, campaign)
        try:
            plan = prerender.plan(session, found, datetime.now(UTC), days)
        except (FlowError, TemplateError) as exc:
            _fail(f"campaign {campaign}: {exc}")
    for line in plan.errors:
        print(f"{campaign}: {line}", file=sys.stderr)
    columns = (TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task("render", total=len(plan.jobs))
        try:
            rendered = prerender.render(plan, workers, progress=lambda done: bar.advance(task, done))
        except TtsError as exc:
            _fail(str(exc))
    console.print(
        f"campaign {campaign}: {len(plan.jobs)} prompts for {plan.contacts} pending contacts: "
        f"{rendered} rendered, {len(plan.jobs) - rendered} already in the cache"
    )
    if plan.errors:
        _fail(f"{len(plan.errors)} contacts cannot be spoken to (listed above); the daemon will not dial the campaign")
