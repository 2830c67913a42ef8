"""The daemon: every active campaign, paced, tracked, recorded, drained on stop.

- An attempt row is committed (Repository.claim) before its Originate is sent, and an
  Originate is sent once: a disconnect while it is in flight leaves the attempt for resync.
- Resync (on start and after every reconnect): attempts live in SQL are matched by ChannelId
  against CoreShowChannels; calls Asterisk still has are followed to their end, the rest end
  as `unknown` and the retry rules decide.
- Nothing is originated while AMI is down or a resync is running.

Engine is composed of what it owns: the AMI link and resync (engine.link), the campaigns'
dialing and pacing (engine.dialing), one call's life (engine.call); this module holds the
lifecycle: start, run, drain.
"""

from __future__ import annotations

import asyncio
import logging

from dialer.ami import AmiClient
from dialer.config import AmiSettings, EngineSettings
from dialer.domain import CampaignState, Outcome
from dialer.engine.base import SQL_TIMEOUT_S
from dialer.engine.ivr_host import IvrHost
from dialer.engine.link import BOOT_TIMEOUT_S, Link
from dialer.engine.pacing import Slots
from dialer.engine.pressure import TrunkPace
from dialer.engine.recorder import Recorder
from dialer.engine.tracker import CallTracker
from dialer.events import EventSink, LiveEvents
from dialer.storage.endings import Ending
from dialer.storage.repository import Repository, now_utc

log = logging.getLogger(__name__)

TRACKED_EVENTS = ["Hangup", "Newstate", "UserEvent"]
# SQL runs in worker threads; a short GIL switch interval keeps the event loop's lag low
# while they work (the daemon sets it: sys.setswitchinterval).
SWITCH_INTERVAL_S = 0.001


class Engine(Link):
    def __init__(self, repo: Repository, ami_settings: AmiSettings, settings: EngineSettings | None = None,
                 ivr: IvrHost | None = None, events: EventSink | None = None) -> None:  # fmt: skip
        self.repo = repo
        self.ivr = ivr  # the FastAGI server and flows; None: calls end at the dialplan's AGI
        self.settings = settings or EngineSettings()
        self.ami = AmiClient(ami_settings, events="on")
        self.tracker = CallTracker()
        self.live = LiveEvents(events, progress=lambda cid: self._sql(self.repo.progress, cid))  # events
        self.tracker.on_amd = self.live.amd  # events
        self.recorder = Recorder(repo, SQL_TIMEOUT_S)
        self._ready = asyncio.Event()  # AMI up and resynced: originating allowed
        self._stopping = asyncio.Event()
        self._calls: set[asyncio.Task[None]] = set()
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._campaign_slots: dict[int, Slots] = {}
        self._trunk_slots: dict[str, Slots] = {}
        self._trunk_paces: dict[str, TrunkPace] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._started = now_utc()

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (errors go to the caller: one clear line at start) and resync."""
        await self.ami.connect()
        await self.ami.wait_fully_booted(BOOT_TIMEOUT_S)
        if self.ivr is not None:
            await self.ivr.start(self.tracker, self.live)
        self.recorder.start()
        self.ami.on_disconnect(self._on_disconnect)
        self._events = self.ami.events(TRACKED_EVENTS)
        self._consumer = asyncio.create_task(self._consume(), name="ami-events")
        await self._resync()
        self._watchdog = asyncio.create_task(self._watch_link(), name="ami-watchdog")

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            while not stop.is_set():
                await self._sync_campaigns()
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.poll_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            await self.drain()

    async def run_until_finished(self, campaign_ids: list[int], timeout: float) -> None:
        """Run until the given campaigns are finished (tests, demo); then drain."""
        stop = asyncio.Event()

        async def watch() -> None:
            while True:
                states = [await self._sql(self.repo.campaign, cid) for cid in campaign_ids]
                if all(c is None or c.state != CampaignState.ACTIVE for c in states) and not self._calls:
                    stop.set()
                    return
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait_for(self.run(stop), timeout)
        finally:
            watcher.cancel()

    async def drain(self) -> None:
        """Stop originating, let live calls end (up to the deadline), record the rest."""
        self._stopping.set()
        for task in self._runners.values():
            task.cancel()
        await asyncio.gather(*self._runners.values(), return_exceptions=True)
        if self._calls:
            log.info("draining: %d live calls, up to %g s", len(self._calls), self.settings.drain_timeout_s)
            await asyncio.wait(self._calls, timeout=self.settings.drain_timeout_s)
        reason = f"still live when the daemon stopped (drain deadline {self.settings.drain_timeout_s:g} s)"
        left = [Ending(c.attempt_id, reason, outcome=Outcome.UNKNOWN) for c in self.tracker.calls.values()]
        results = await asyncio.gather(*(self.recorder.record(e) for e in left), return_exceptions=True)
        for ending, result in zip(left, results, strict=True):
            if isinstance(result, BaseException):
                log.error("attempt %s: could not record its end at shutdown: %s", ending.attempt_id, result)
            self.live.ended(ending)  # events
        await self.live.stop()  # events: the last progress of each campaign
        await self.recorder.stop()
        if self.ivr is not None:
            await self.ivr.close(1.0)
        for task in self._calls:
            task.cancel()
        for helper in (self._reconnecting, self._watchdog):
            if helper is not None:
                helper.cancel()
        if hasattr(self, "_consumer"):
            self._consumer.cancel()
        self.ami.close()

