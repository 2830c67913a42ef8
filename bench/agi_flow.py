"""The 5-step flow of bench/agi.py, run by the real FlowRunner over FastAGI and process AGI.

answer (here) -> say "Hola." -> menu "Pulse uno." (one key) -> say "Adiós." -> hang up.
Prompts are real espeak-ng renders from the PromptCache (render_prompts() makes them); the
CallContext is built here, no SQL. Before it hangs up, the flow sets BENCH_KEY to the key it
read, which the dialplan's h extension reports (UserEvent BenchDone).

Two routes: `bench` (the menu waits 5 s for the key) and `hold` (40 s: the 1,000-session run,
whose caller waits before pressing).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.flow import Flow, parse
from dialer.ivr.prompt_book import PromptBook
from dialer.ivr.call import CallContext, IvrEventRow
from dialer.ivr.runner import FlowRunner
from prompts.cache import PromptCache, playback_name

LANG = "es"
TEXTS = {"greeting": "Hola.", "notify_repeat": "Pulse uno.", "goodbye": "Adiós."}
SETTINGS: dict[str, Any] = {"prompts": {LANG: TEXTS}}


def flow(name: str, menu_timeout_s: float) -> Flow:
    return parse({
        "name": name, "start": "hello",
        "steps": {
            "hello": {"type": "say", "prompt": "greeting", "next": "menu"},
            "menu": {"type": "menu", "prompt": "notify_repeat", "keys": {"1": "bye"}, "timeout_s": menu_timeout_s,
                     "retries": 0},
            "bye": {"type": "say", "prompt": "goodbye", "next": "hangup"},
            "hangup": {"type": "hangup"},
        },
    }, f"bench/agi_flow.py:{name}")  # fmt: skip


FLOWS = {"bench": flow("bench", 5), "hold": flow("hold", 40)}
_BOOKS: dict[str, PromptBook] = {}


def book(name: str) -> PromptBook:
    if name not in _BOOKS:
        _BOOKS[name] = PromptBook(FLOWS[name], LANG, SETTINGS, PromptCache())
    return _BOOKS[name]


def render_prompts() -> dict[str, str]:
    """Render every prompt the flows may play (cached after the first time); the three the
    flow plays, as Playback() names, for the dialplan-only variant."""
    for name in FLOWS:
        b = book(name)
        for job in b.campaign_jobs(date.today()):
            b.render(job)
    b = book("bench")
    return {key: playback_name(b.path(key, b.campaign_values())) for key in TEXTS}


def context(name: str, uniqueid: str) -> CallContext:
    return CallContext(attempt_id=uniqueid, campaign_id=0, campaign="bench", contact_id=0, external_id="",
                       number="", name=None, fields={}, language=LANG, flow=name, settings=SETTINGS)  # fmt: skip


class _KeyReporting:
    """The channel, with BENCH_KEY set just before the flow hangs up."""

    def __init__(self, channel: AgiChannel) -> None:
        self._channel = channel
        self.key = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def on_event(self, row: IvrEventRow) -> None:
        if row.kind == "key":
            self.key = row.value or ""

    async def hangup(self) -> None:
        await self._channel.set_variable("BENCH_KEY", self.key)
        await self._channel.hangup()


async def handler(channel: AgiChannel) -> None:
    name = channel.script if channel.script in FLOWS else "bench"
    await channel.answer()
    reporting = _KeyReporting(channel)
    runner = FlowRunner(reporting, context(name, channel.uniqueid), FLOWS[name], book(name),  # type: ignore[arg-type]
                        on_event=reporting.on_event)  # fmt: skip
    await runner.run()


def handler_for(script: str) -> Any:
    return handler if script in FLOWS else None
