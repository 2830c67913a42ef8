"""The IVR inside the daemon: the FastAGI server, the flow service, and the prompts check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from dialer.calls import CallTracker
from dialer.config import AgiSettings
from dialer.ivr import prerender
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.runner import CallContext, IvrEventRow
from dialer.ivr.service import IvrService
from dialer.storage.models import Campaign

log = logging.getLogger(__name__)


class IvrHost:
    def __init__(self, sessions: sessionmaker[Session], listen: AgiSettings, *,
                 today: Callable[[], date] | None = None,
                 on_event: Callable[[CallContext, IvrEventRow], None] | None = None) -> None:
        self.sessions = sessions
        self.listen = listen
        self.today = today or (lambda: datetime.now(UTC).date())
        self.on_event = on_event
        self.service: IvrService | None = None
        self.server: FastAgiServer | None = None

    async def start(self, tracker: CallTracker) -> None:
        self.service = IvrService(self.sessions, tracker=tracker, today=self.today, on_event=self.on_event)
        self.server = FastAgiServer(self.service.handler_for, self.listen.host, self.listen.port)
        await self.server.start()

    async def close(self, drain_timeout: float) -> None:
        if self.server is not None:
            await self.server.close(drain_timeout)

    def check_campaign(self, campaign: Campaign) -> str | None:
        """Why the campaign may not dial (prompts not rendered, contacts that cannot be spoken to)."""
        with self.sessions() as s:
            found = prerender.check(s, campaign, self.today())
        return None if found.ok else found.message(campaign.name)
