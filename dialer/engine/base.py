"""What the parts of Engine share: the attributes Engine.__init__ sets, and SQL in the engine's own
worker threads with a timeout. The parts build on each other in one line: Calls (one call) <-
Dialing (campaigns and pacing) <- Link (AMI link and resync) <- Engine (lifecycle)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar

from dialer.ami import AmiClient, EventStream
from dialer.config import EngineSettings
from dialer.engine.ivr_host import IvrHost
from dialer.engine.pacing import Slots
from dialer.engine.pressure import TrunkPace
from dialer.engine.queue_watch import QueueWatch
from dialer.engine.recorder import Recorder
from dialer.engine.tracker import CallTracker
from dialer.events import LiveEvents
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlWorker

T = TypeVar("T")


class EngineBase:
    repo: Repository
    ivr: IvrHost | None  # the FastAGI server and flows; None: calls end at the dialplan's AGI
    settings: EngineSettings
    ami: AmiClient
    tracker: CallTracker
    live: LiveEvents
    recorder: Recorder
    queues: QueueWatch  # the call-center queues followed over AMI: live-call limits of transferring campaigns
    sql: SqlWorker  # the engine's own SQL threads (claims, campaigns, resync)
    _orphans: dict[str, Future[Any]]  # claim token -> its SQL job: claims given up on, to undo
    _ready: asyncio.Event  # AMI up and resynced: originating allowed
    _stopping: asyncio.Event
    _calls: set[asyncio.Task[None]]
    _chores: set[asyncio.Task[None]]  # short background writes (answer times)
    _runners: dict[int, asyncio.Task[None]]
    _names: dict[int, str]  # campaign id -> name, for metrics labels
    _campaign_slots: dict[int, Slots]
    _trunk_slots: dict[str, Slots]
    _trunk_paces: dict[str, TrunkPace]  # calls/s per trunk, backing off under carrier pressure
    _reconnecting: asyncio.Task[None] | None
    _watchdog: asyncio.Task[None] | None
    _started: datetime
    _events: EventStream  # set by Engine.start
    _consumer: asyncio.Task[None]  # set by Engine.start

    async def _sql(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.sql.run(fn, *args, **kwargs)
