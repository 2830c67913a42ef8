"""The IVR side of the daemon: for each AGI session, run the attempt's campaign flow.

In the daemon the report goes to the engine's call tracker, so the engine's single recorder
writes the outcome and the events together when the call ends. Without a tracker (`dialer agi
serve`, process AGI scripts) the events are written here and the outcome travels to the daemon
as channel variables the dialplan's `h` extension reports in its DialerEnd event.

It is also the gate (dialer.ivr.trust): a session runs a flow only for a live attempt whose token
it holds, once. In the daemon the live calls and their token hashes are the tracker's; without
one, the attempt row's hash in SQL is checked and used up in one statement.

The report is handed over on every way out: the flow's end, a hang-up, a flow that breaks
(`ivr_error`: a prompt missing, the AGI link lost, SQL that does not answer), and a session
cancelled while the daemon stops. Facts already captured (a promise to pay) are kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from dialer.ivr.agi import AgiError
from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.calendar import contact_today
from dialer.ivr.call import CallContext, CallReport, Channel, IvrEventRow
from dialer.ivr.dialplan import encode_details
from dialer.ivr.flow import Flow, FlowError, routes
from dialer.ivr.prerender import campaign_flow
from dialer.ivr.prompt_book import PromptBook
from dialer.ivr.return_calls import RETURN_ROUTE, ReturnCallService
from dialer.ivr.runner import FlowRunner
from dialer.ivr.trust import TOKEN_VARIABLE, Refused, read_claim, token_hash, token_matches
from dialer.storage import agi_tokens
from dialer.storage.ivr_store import call_row, save_events
from dialer.storage.worker import SQL_TIMEOUT_S, SqlWorker
from prompts.cache import PromptCache
from prompts.templates import TemplateError

log = logging.getLogger(__name__)

ADMIT_TIMEOUT_S = 5.0  # reading the claim and checking it, when no server gate did it first
Handler = Callable[[Any], Awaitable[None]]


class LiveCalls(Protocol):
    """The daemon's call tracker as the IVR sees it: live calls by attempt id, each with its AGI
    token's hash (`agi_token_hash`, `agi_admitted`) and taking the IVR's report (outcome, step,
    details, events; `ivr_report` while it runs) and an `ivr_done` event (dialer.engine.tracker)."""

    @property
    def calls(self) -> Mapping[str, Any]: ...


class IvrService:
    def __init__(self, sessions: sessionmaker[Session], *, tracker: LiveCalls | None = None,
                 cache: PromptCache | None = None, clock: Callable[[], datetime] | None = None,
                 on_event: Callable[[CallContext, IvrEventRow], None] | None = None,
                 sql: SqlWorker | None = None, returns: ReturnCallService | None = None) -> None:  # fmt: skip
        self.sessions = sessions
        self.sql = sql or SqlWorker("dialer-ivr-sql", 2)  # its own threads: never behind other SQL
        self.tracker = tracker
        self.cache = cache or PromptCache()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_event = on_event
        self._books: dict[tuple[Any, ...], tuple[Flow, PromptBook]] = {}
        self.returns = returns  # return calls (the `return` path), when the daemon takes them

    def handler_for(self, script: str) -> Handler | None:
        """A built-in flow's name, or `campaign` (a campaign's own flow file), routes here; the
        attempt's campaign says which flow runs; `return` is a return call (dialer.ivr.return_calls)."""
        if script == RETURN_ROUTE:
            return self.returns.handle if self.returns is not None else None
        return self.handle if script in routes() else None

    def _prepared(self, ctx: CallContext) -> tuple[Flow, PromptBook]:
        key = (ctx.campaign_id, ctx.flow, ctx.language, json.dumps(ctx.settings, sort_keys=True, default=str))
        if key not in self._books:
            flow = campaign_flow(ctx.flow, ctx.settings)
            self._books[key] = (flow, PromptBook(flow, ctx.language, ctx.settings, self.cache))
        return self._books[key]

    # -- the gate ---------------------------------------------------------------------------
    async def admit(self, channel: AgiChannel) -> None:
        """Believe the session (channel.attempt_id set) or raise Refused; nothing is written to the
        channel before the claim holds, and the token is then taken off it."""
        if channel.script == RETURN_ROUTE:  # a return call: its token was issued by Uniqueid
            if self.returns is None:
                raise Refused("return calls are not taken here")
            return await self.returns.door.admit(channel)
        claim = await read_claim(channel)
        if self.tracker is not None:
            why = self._admit_live(claim.attempt_id, claim.token)
        else:
            why = await self.sql.run(agi_tokens.consume, self.sessions, claim.attempt_id, token_hash(claim.token),
                                     timeout_s=SQL_TIMEOUT_S)
        if why:
            raise Refused(why)
        channel.attempt_id = claim.attempt_id
        await channel.set_variable(TOKEN_VARIABLE, "")

    def _admit_live(self, attempt_id: str, token: str) -> str | None:
        assert self.tracker is not None
        live = self.tracker.calls.get(attempt_id)
        if live is None:
            return f"attempt {attempt_id} is not live in this daemon"
        if live.agi_token_hash is None:
            return f"attempt {attempt_id}: no token issued by this daemon (followed after a restart)"
        if not token_matches(token, live.agi_token_hash):
            return f"attempt {attempt_id}: wrong token"
        if live.agi_admitted:
            return f"attempt {attempt_id} already had its AGI session"
        live.agi_admitted = True
        return None

    # -- the flow ---------------------------------------------------------------------------
    async def handle(self, channel: AgiChannel) -> None:
        if channel.attempt_id is None:  # no gate in front (process AGI): admit here, or Refused
            try:
                async with asyncio.timeout(ADMIT_TIMEOUT_S):
                    await self.admit(channel)
            except TimeoutError:
                raise Refused(f"not admitted within {ADMIT_TIMEOUT_S:g} s") from None
        attempt_id = channel.attempt_id or ""
        live = self.tracker.calls.get(attempt_id) if self.tracker is not None else None
        if live is not None:
            live.ivr_done = asyncio.Event()
        report = CallReport()
        if live is not None:  # what the IVR knows so far, should the daemon cut the call short
            live.ivr_report = report
        known = True
        try:
            known = await self._run(channel, attempt_id, report)
        except asyncio.CancelledError:
            report.error = report.error or "the IVR session was cancelled (the daemon is stopping)"
            raise
        except Exception as exc:  # a bug must not lose what the call already captured
            log.exception("attempt %s: the IVR failed", attempt_id)
            report.error = report.error or f"the IVR failed: {exc!r}"
        finally:
            try:
                if known:
                    await self._report(channel, attempt_id, report, live)
            finally:
                if live is not None and live.ivr_done is not None:
                    live.ivr_done.set()

    async def _run(self, channel: Channel, attempt_id: str, report: CallReport) -> bool:
        """Run the attempt's flow, filling `report`; False for an attempt SQL does not know."""
        try:
            row = await self.sql.run(call_row, self.sessions, attempt_id, timeout_s=SQL_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - SQL trouble: the caller must not wait in silence
            report.error = f"the attempt could not be read from SQL ({exc})"
            log.error("attempt %s: %s; hanging up", attempt_id, report.error)
            await _hang_up(channel)
            return True
        if row is None:
            log.warning("AGI session for unknown attempt %r: hanging up", attempt_id)
            await _hang_up(channel)
            return False
        ctx = CallContext(**row)
        live = self.tracker.calls.get(attempt_id) if self.tracker is not None else None
        if live is not None:  # what the agent's screen-pop shows (dialer.engine.queue_watch)
            live.ivr_context = ctx
        try:
            flow, book = self._prepared(ctx)
        except (FlowError, TemplateError) as exc:
            log.error("attempt %s: campaign %s cannot run its flow: %s", attempt_id, ctx.campaign, exc)
            report.error = str(exc)
            await _hang_up(channel)
            return True
        on_event = (lambda row_: self.on_event(ctx, row_)) if self.on_event else None  # type: ignore[misc]
        today = contact_today(self.clock(), ctx.timezone, ctx.number, ctx.settings, ctx.default_region)
        await FlowRunner(channel, ctx, flow, book, today=today, on_event=on_event, report=report).run()
        return True

    async def _report(self, channel: Channel, attempt_id: str, report: CallReport, live: Any) -> None:
        outcome, step = report.final()
        if report.error:
            report.details.setdefault("error", report.error)
        log.info("attempt %s: IVR %s%s after %d events", attempt_id, outcome.value,
                 f" at {step}" if step else "", len(report.events))  # fmt: skip
        if live is not None:
            live.outcome, live.step = outcome, step
            live.details.update(report.details)
            live.events = tuple(report.events)
            return
        try:
            await self.sql.run(save_events, self.sessions, attempt_id, report.events, timeout_s=SQL_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the outcome still goes to the daemon below
            log.error("attempt %s: its %d IVR events could not be saved: %s", attempt_id, len(report.events),
                      exc)  # fmt: skip
        try:  # read by the dialplan's h extension (DialerEnd); works on a hung-up channel too
            await channel.set_variable("DIALER_OUTCOME", outcome.value)
            await channel.set_variable("DIALER_STEP", step or "")
            await channel.set_variable("DIALER_DETAILS", encode_details(report.details))
        except AgiError as exc:
            log.warning("attempt %s: channel gone before the outcome was handed over (%s)", attempt_id, exc)


async def _hang_up(channel: Channel) -> None:
    try:
        await channel.hangup()
    except AgiError:
        pass  # already gone
