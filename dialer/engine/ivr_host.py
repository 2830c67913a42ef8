"""The IVR inside the daemon: the FastAGI server (which believes only Asterisk: dialer.ivr.trust),
the flow service, and the prompts check."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from dialer.config import AgiSettings
from dialer.engine.tracker import CallTracker
from dialer.events import LiveEvents
from dialer.ivr import prerender
from dialer.ivr.call import CallContext, IvrEventRow
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.service import IvrService
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 120.0  # the prompts check of a large campaign stats every contact's files


class IvrHost:
    def __init__(self, sessions: sessionmaker[Session], listen: AgiSettings, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.sessions = sessions
        self.listen = listen
        self.clock = clock or (lambda: datetime.now(UTC))
        self.service: IvrService | None = None
        self.live: LiveEvents | None = None
        self.server: FastAgiServer | None = None

    async def start(self, tracker: CallTracker, live: LiveEvents | None = None) -> None:
        self.live = live
        self.service = IvrService(self.sessions, tracker=tracker, clock=self.clock, on_event=self._on_event)
        self.server = FastAgiServer.for_settings(self.listen, self.service.handler_for, self.service)
        await self.server.start()

    async def close(self, drain_timeout: float) -> None:
        if self.server is not None:
            await self.server.close(drain_timeout)

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
        problem = await asyncio.wait_for(asyncio.to_thread(self.check_campaign, campaign), CHECK_TIMEOUT_S)
        if problem:
            log.error("%s; campaign paused", problem)
            await asyncio.wait_for(asyncio.to_thread(repo.pause_campaign, campaign.id, problem), CHECK_TIMEOUT_S)
        return problem is None

    def check_campaign(self, campaign: Campaign) -> str | None:
        """Why the campaign may not dial (prompts not rendered, contacts that cannot be spoken to)."""
        with self.sessions() as s:
            found = prerender.check(s, campaign, self.clock())
        return None if found.ok else found.message(campaign.name)
