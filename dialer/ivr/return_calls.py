"""Return calls: a person calls a campaign's caller ID (DID) back; the dialplan's `dialer-inbound`
context sends the call to the FastAGI path `return`.

Who is believed (as strongly as an outbound call, dialer.ivr.trust): `dialer-inbound` announces each
call with a UserEvent DialerInbound; the daemon (which reads it over its own AMI login) draws a
fresh 192-bit token, keeps its SHA-256 by the channel's Uniqueid for 30 s and sets the token on
that channel with AMI Setvar; the dialplan waits for it, then runs AGI. A `return` session runs only
from an allowed peer, when the token on its channel matches the hash issued for its Uniqueid, once.
Nothing else can mint a token: a process that reaches the FastAGI port cannot make Asterisk send
the event, and the Setvar goes to the channel named by Asterisk itself.

A believed session: the caller's number (normalised, E.164) is matched (dialer.storage.return_calls);
a match hears who called and why, then the campaign's flow from its identity step, and the call is an
attempt with direction `inbound`; an unknown or shared number gets the configured flow and is
recorded as such. The audio a call needs is rendered before it plays (found in the cache when the
campaign's own calls rendered it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from sqlalchemy.orm import Session, sessionmaker

from dialer.config import ReturnCallSettings
from dialer.ivr.agi import AgiError
from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.calendar import contact_today
from dialer.ivr.call import CallContext, CallReport
from dialer.ivr.flow import Flow
from dialer.ivr.prerender import campaign_flow
from dialer.ivr.return_flow import ReturnBook, return_flow, unknown_flow
from dialer.ivr.runner import FlowRunner
from dialer.ivr.trust import TOKEN_VARIABLE, Refused, new_token, token_hash, token_matches
from dialer.storage.ending_hooks import EndingHook
from dialer.storage.ivr_store import call_row
from dialer.storage.return_calls import ReturnEnding, campaign_for_did, finish_call, open_call
from dialer.storage.worker import SQL_TIMEOUT_S, SqlWorker
from prompts.cache import PromptCache

log = logging.getLogger(__name__)

RETURN_ROUTE = "return"  # agi://HOST:PORT/return, from the dialer-inbound context only
TOKEN_TTL_S = 30.0
RENDER_TIMEOUT_S = 30.0


class ReturnDoor:
    """Tokens issued to return calls by Uniqueid (only hashes kept), each used once within TOKEN_TTL_S."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._issued: dict[str, tuple[str, float]] = {}

    def issue(self, uniqueid: str) -> str:
        now = time.monotonic()
        self._issued = {k: v for k, v in self._issued.items() if v[1] > now}
        token = new_token()
        self._issued[uniqueid] = (token_hash(token), now + self.ttl_s)
        return token

    async def admit(self, channel: AgiChannel) -> None:
        """Believe a `return` session or raise Refused; the token is then cleared from the channel."""
        issued = self._issued.get(channel.uniqueid)
        if issued is None or issued[1] < time.monotonic():
            raise Refused(f"return call {channel.uniqueid[:64]!r}: no token issued for this channel (or expired)")
        token = await channel.get_variable(TOKEN_VARIABLE) or ""
        if not token_matches(token, issued[0]):  # a wrong guess does not use up the real call's token
            raise Refused(f"return call {channel.uniqueid[:64]!r}: wrong token")
        if self._issued.pop(channel.uniqueid, None) is None:  # another session took it meanwhile
            raise Refused(f"return call {channel.uniqueid[:64]!r} already had its AGI session")
        await channel.set_variable(TOKEN_VARIABLE, "")


def normalised(caller: str, region: str) -> str:
    """The caller's number as E.164 when it parses (as `region`'s if it has no country code)."""
    raw = "".join(ch for ch in caller if ch.isdigit() or ch == "+")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class ReturnCallService:
    """Runs believed `return` sessions: match, greet, the campaign's flow or the unknown flow, record."""

    def __init__(self, sessions: sessionmaker[Session], sql: SqlWorker, *, node: str = "",
                 settings: ReturnCallSettings | None = None, cache: PromptCache | None = None,
                 hooks: Sequence[EndingHook] = (), clock: Callable[[], datetime] | None = None) -> None:  # fmt: skip
        self.sessions, self.sql, self.node = sessions, sql, node
        self.settings = settings or ReturnCallSettings()
        self.cache = cache or PromptCache()
        self.hooks = tuple(hooks)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.door = ReturnDoor()
        self.attempts: set[str] = set()  # the attempts of the return calls running now

    async def handle(self, channel: AgiChannel) -> None:
        number = normalised(channel.env.get("agi_callerid", ""), self.settings.region)
        did = await channel.get_variable("DIALER_DID") or channel.env.get("agi_extension", "")
        now = self.clock()
        row, attempt, found = await self.sql.run(open_call, self.sessions, number, did, self.node, now,
                                                 self.settings.days, timeout_s=SQL_TIMEOUT_S)  # fmt: skip
        report = CallReport()
        if attempt is not None:
            self.attempts.add(attempt.id)
        try:
            if attempt is not None:
                values = await self.sql.run(call_row, self.sessions, attempt.id, timeout_s=SQL_TIMEOUT_S)
                ctx = CallContext(**values)
                flow = return_flow(campaign_flow(ctx.flow, ctx.settings))
            else:
                ctx = await self.sql.run(self._unknown_context, did, number, row.id, timeout_s=SQL_TIMEOUT_S)
                flow = unknown_flow(self.settings.unknown_flow)
                report.details["match"] = found.kind.value
            await self._run(channel, ctx, flow, report)
        except Exception as exc:  # noqa: BLE001 - recorded as an IVR error; the caller is hung up
            log.exception("return call %s: the IVR failed", row.id)
            report.error = report.error or f"the IVR failed: {exc!r}"
            await _hang_up(channel)
        finally:
            outcome, step = report.final()
            if report.error:
                report.details.setdefault("error", report.error)
            ending = ReturnEnding(row.id, attempt.id if attempt else None, outcome, step, dict(report.details),
                                  tuple(report.events))  # fmt: skip
            try:
                await self.sql.run(finish_call, self.sessions, ending, self.clock(), self.hooks,
                                   timeout_s=SQL_TIMEOUT_S)  # fmt: skip
            finally:
                self.attempts.discard(ending.attempt_id or "")

    async def _run(self, channel: AgiChannel, ctx: CallContext, flow: Flow, report: CallReport) -> None:
        book = ReturnBook(flow, ctx.language, ctx.settings, self.cache)
        today = contact_today(self.clock(), ctx.timezone, ctx.number, ctx.settings, ctx.default_region)
        jobs = book.call_jobs(today, str(ctx.contact_id) if ctx.contact_id else "", ctx.name, ctx.fields)
        missing = book.missing(jobs)
        if missing:  # rendered once; later calls find them in the cache
            await asyncio.wait_for(asyncio.to_thread(lambda: [book.render(job) for job in missing]),
                                   RENDER_TIMEOUT_S)  # fmt: skip
        await FlowRunner(channel, ctx, flow, book, today=today, report=report).run()

    def _unknown_context(self, did: str, number: str, row_id: int) -> CallContext:
        """The call as the unknown flow sees it: the DID's campaign (company, language, queue), no contact."""
        with self.sessions() as s:
            campaign = campaign_for_did(s, did)
            settings: dict[str, Any] = dict(campaign.settings) if campaign else {}
            language = campaign.language if campaign else self.settings.language
            region = campaign.default_region if campaign else self.settings.region
            return CallContext(attempt_id=f"return-{row_id}", campaign_id=campaign.id if campaign else 0,
                               campaign=campaign.name if campaign else "", contact_id=0, external_id="",
                               number=number, name=None, fields={}, language=language, flow="return-unknown",
                               settings=settings, default_region=region)  # fmt: skip


async def _hang_up(channel: AgiChannel) -> None:
    try:
        await channel.hangup()
    except AgiError:
        pass

