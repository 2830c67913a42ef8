"""The IVR inside the daemon: the FastAGI server (which believes only Asterisk: dialer.ivr.trust),
the flow service, and the prompts check."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from dialer.config import AgiSettings
from dialer.engine.tracker import CallTracker
from dialer.events import LiveEvents
from dialer.ivr import prerender
from dialer.ivr.call import CallContext, IvrEventRow
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.service import IvrService
from dialer.storage.db import allow_slow_statements
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlWorker

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 120.0  # the prompts check of a large campaign stats every contact's files
IVR_SQL_THREADS = 4  # the IVR's own SQL threads: its look-ups never wait behind the engine's claims


class IvrHost:
    def __init__(self, sessions: sessionmaker[Session], listen: AgiSettings, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.sessions = sessions
        self.listen = listen
        self.clock = clock or (lambda: datetime.now(UTC))
        self.service: IvrService | None = None
        self.live: LiveEvents | None = None
        self.server: FastAgiServer | None = None
        self.sql = SqlWorker("dialer-ivr-sql", IVR_SQL_THREADS)

    async def start(self, tracker: CallTracker, live: LiveEvents | None = None) -> None:
        self.live = live
        self.service = IvrService(self.sessions, tracker=tracker, clock=self.clock, on_event=self._on_event,
                                  sql=self.sql)  # fmt: skip
        self.server = FastAgiServer.for_settings(self.listen, self.service.handler_for, self.service)
        await self.server.start()

    async def close(self, drain_timeout: float) -> None:
        if self.server is not None:
            await self.server.close(drain_timeout)
        self.sql.close()

    def _on_event(self, ctx: CallContext, row: IvrEventRow) -> None:
        """IVR steps and keys (single keys only: never digits) and transfers to live events."""
        if self.live is None:
            return
        if row.kind in ("step", "key"):
            self.live.ivr_step(ctx.attempt_id, row.name, row.value if row.kind == "key" else None, ctx.campaign_id)
        elif row.kind == "fact" and row.name == "transfer":
            fact = json.loads(row.value or "{}")
            self.live.transferred(ctx.attempt_id, fact.get("queue", ""), bool(fact.get("agent_answered")),
                                  fact.get("queue_wait_s"), ctx.campaign_id)  # fmt: skip

    async def may_dial(self, campaign: Campaign, repo: Repository) -> bool:
        """False (and the campaign paused, with the reason) while its prompts are not all rendered."""
        problem = await self.sql.run(self.check_campaign, campaign, timeout_s=CHECK_TIMEOUT_S)
        return await self._paused_if(problem, campaign, repo)

    async def may_keep_dialing(self, campaign: Campaign, repo: Repository) -> bool:
        """Again each day: the shared prompts, date read-backs from today on (their horizon ends)."""
        found = await self.sql.run(self._check_shared, campaign, timeout_s=CHECK_TIMEOUT_S)
        return await self._paused_if(None if found.ok else found.message(campaign.name), campaign, repo)

    def _check_shared(self, campaign: Campaign) -> prerender.Check:
        with self.sessions() as s:
            allow_slow_statements(s, CHECK_TIMEOUT_S)
            return prerender.check_shared(s, campaign, self.clock())

    def today(self) -> date:
        """The day (UTC) the shared prompts were last checked for: a new one checks them again."""
        return self.clock().date()

    def contact_screen(self, campaign: Campaign) -> prerender.ContactScreen:
        """What each claim asks of each contact: are its own sentences rendered?"""
        return prerender.ContactScreen(campaign)

    async def _paused_if(self, problem: str | None, campaign: Campaign, repo: Repository) -> bool:
        if problem:
            log.error("%s; campaign paused", problem)
            await self.sql.run(repo.pause_campaign, campaign.id, problem, timeout_s=CHECK_TIMEOUT_S)
        return problem is None

    def check_campaign(self, campaign: Campaign) -> str | None:
        """Why the campaign may not dial (prompts not rendered, contacts that cannot be spoken to)."""
        with self.sessions() as s:
            allow_slow_statements(s, CHECK_TIMEOUT_S)
            found = prerender.check(s, campaign, self.clock())
        return None if found.ok else found.message(campaign.name)
