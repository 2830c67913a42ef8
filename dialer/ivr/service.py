"""The IVR side of the daemon: for each AGI session, run the attempt's campaign flow.

In the daemon the report goes to the engine's call tracker, so the engine's single recorder
writes the outcome and the events together when the call ends. Without a tracker (`dialer agi
serve`, process AGI scripts) the events are written here and the outcome travels to the daemon
as channel variables the dialplan's `h` extension reports in its DialerEnd event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from dialer.ivr.agi import AgiHangup
from dialer.ivr.dialplan import encode_details
from dialer.ivr.flow import Flow, FlowError, routes
from dialer.ivr.prerender import campaign_flow
from dialer.ivr.prompt_book import PromptBook
from dialer.ivr.call import CallContext, CallReport, Channel, IvrEventRow
from dialer.ivr.runner import FlowRunner
from dialer.storage.ivr_store import call_row, save_events
from prompts.cache import PromptCache
from prompts.templates import TemplateError

log = logging.getLogger(__name__)

SQL_TIMEOUT_S = 10.0
Handler = Callable[[Any], Awaitable[None]]


class LiveCalls(Protocol):
    """The daemon's call tracker as the IVR sees it: live calls by attempt id, each taking the
    IVR's report (outcome, step, details, events; `ivr_report` while it runs) and an `ivr_done`
    event (dialer.engine.tracker)."""

    @property
    def calls(self) -> Mapping[str, Any]: ...


class IvrService:
    def __init__(self, sessions: sessionmaker[Session], *, tracker: LiveCalls | None = None,
                 cache: PromptCache | None = None, today: Callable[[], date] | None = None,
                 on_event: Callable[[CallContext, IvrEventRow], None] | None = None) -> None:
        self.sessions = sessions
        self.tracker = tracker
        self.cache = cache or PromptCache()
        self.today = today
        self.on_event = on_event
        self._books: dict[tuple[Any, ...], tuple[Flow, PromptBook]] = {}

    def handler_for(self, script: str) -> Handler | None:
        """A built-in flow's name, or `campaign` (a campaign's own flow file), routes here; the
        attempt's campaign says which flow runs."""
        return self.handle if script in routes() else None

    def _prepared(self, ctx: CallContext) -> tuple[Flow, PromptBook]:
        key = (ctx.campaign_id, ctx.flow, ctx.language, json.dumps(ctx.settings, sort_keys=True, default=str))
        if key not in self._books:
            flow = campaign_flow(ctx.flow, ctx.settings)
            self._books[key] = (flow, PromptBook(flow, ctx.language, ctx.settings, self.cache))
        return self._books[key]

    async def handle(self, channel: Channel) -> None:
        attempt_id = await channel.get_variable("DIALER_ATTEMPT") or ""
        row = await asyncio.wait_for(asyncio.to_thread(call_row, self.sessions, attempt_id), SQL_TIMEOUT_S)
        if row is None:
            log.warning("AGI session for unknown attempt %r: hanging up", attempt_id)
            await channel.hangup()
            return
        ctx = CallContext(**row)
        live = self.tracker.calls.get(attempt_id) if self.tracker is not None else None
        if live is not None:
            live.ivr_done = asyncio.Event()
        try:
            try:
                flow, book = self._prepared(ctx)
            except (FlowError, TemplateError) as exc:
                log.error("attempt %s: campaign %s cannot run its flow: %s", attempt_id, ctx.campaign, exc)
                report = CallReport(details={"error": str(exc)})
                await channel.hangup()
            else:
                on_event = (lambda row_: self.on_event(ctx, row_)) if self.on_event else None  # type: ignore[misc]
                today = self.today() if self.today else None
                runner = FlowRunner(channel, ctx, flow, book, today=today, on_event=on_event)
                if live is not None:  # what the IVR knows so far, should the daemon cut the call short
                    live.ivr_report = runner.report
                report = await runner.run()
            await self._report(channel, ctx, report, live)
        finally:
            if live is not None and live.ivr_done is not None:
                live.ivr_done.set()

    async def _report(self, channel: Channel, ctx: CallContext, report: CallReport, live: Any) -> None:
        outcome, step = report.final()
        log.info("attempt %s: IVR %s%s after %d events", ctx.attempt_id, outcome.value,
                 f" at {step}" if step else "", len(report.events))  # fmt: skip
        if live is not None:
            live.outcome, live.step = outcome, step
            live.details.update(report.details)
            live.events = tuple(report.events)
            return
        await asyncio.wait_for(asyncio.to_thread(save_events, self.sessions, ctx.attempt_id, report.events),
                               SQL_TIMEOUT_S)  # fmt: skip
        try:  # read by the dialplan's h extension (DialerEnd); works on a hung-up channel too
            await channel.set_variable("DIALER_OUTCOME", outcome.value)
            await channel.set_variable("DIALER_STEP", step or "")
            await channel.set_variable("DIALER_DETAILS", encode_details(report.details))
        except AgiHangup:
            log.warning("attempt %s: channel gone before the outcome was handed over", ctx.attempt_id)
