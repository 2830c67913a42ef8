"""What the parts of Engine share: the attributes Engine.__init__ sets, and SQL in a worker thread
with a timeout. The parts build on each other in one line: Calls (one call) <- Dialing (campaigns
and pacing) <- Link (AMI link and resync) <- Engine (lifecycle)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from dialer.ami import AmiClient, EventStream
from dialer.config import EngineSettings
from dialer.engine.ivr_host import IvrHost
from dialer.engine.pacing import Slots
from dialer.engine.pressure import TrunkPace
from dialer.engine.recorder import Recorder
from dialer.engine.tracker import CallTracker
from dialer.events import LiveEvents
from dialer.storage.repository import Repository

SQL_TIMEOUT_S = 10.0
T = TypeVar("T")


class EngineBase:
    repo: Repository
    ivr: IvrHost | None  # the FastAGI server and flows; None: calls end at the dialplan's AGI
    settings: EngineSettings
    ami: AmiClient
    tracker: CallTracker
    live: LiveEvents
    recorder: Recorder
    _ready: asyncio.Event  # AMI up and resynced: originating allowed
    _stopping: asyncio.Event
    _calls: set[asyncio.Task[None]]
    _runners: dict[int, asyncio.Task[None]]
    _campaign_slots: dict[int, Slots]
    _trunk_slots: dict[str, Slots]
    _trunk_paces: dict[str, TrunkPace]  # calls/s per trunk, backing off under carrier pressure
    _reconnecting: asyncio.Task[None] | None
    _watchdog: asyncio.Task[None] | None
    _started: datetime
    _events: EventStream  # set by Engine.start
    _consumer: asyncio.Task[None]  # set by Engine.start

    @staticmethod
    async def _sql(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), SQL_TIMEOUT_S)
