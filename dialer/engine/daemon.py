"""The daemon: every active campaign, paced, tracked, recorded, drained on stop.

- An attempt row is committed (Repository.claim) before its Originate is sent, and an
  Originate is sent once: a disconnect while it is in flight leaves the attempt for resync.
- Resync (on start and after every reconnect): attempts live in SQL are matched by ChannelId
  against CoreShowChannels; calls Asterisk still has are followed to their end, the rest end
  as `unknown` and the retry rules decide.
- Nothing is originated while AMI is down or a resync is running.
- An outcome the IVR reports wins over any AMI-derived state (engine.call).
- An ending SQL refuses is journaled and retried, never dropped (engine.recorder); attempts of
  this run that no call tracks any more are swept (ended `unknown`).
- At the drain deadline the calls left are hung up through AMI; each records what its IVR knew.

Engine is composed of what it owns: the AMI link and resync (engine.link), the campaigns'
dialing and pacing (engine.dialing), one call's life (engine.call); this module holds the
lifecycle: start, run, drain.
"""

from __future__ import annotations

import asyncio
import logging

from datetime import timedelta
from typing import Any

from dialer.ami import AmiClient
from dialer.config import AmiSettings, EngineSettings, journal_path
from dialer.domain import CampaignState, Outcome
from dialer.engine.call import IVR_GRACE_S
from dialer.engine.ivr_host import IvrHost
from dialer.engine.journal import Journal
from dialer.engine.link import BOOT_TIMEOUT_S, Link
from dialer.engine.node import NodeKeeper
from dialer.engine.pacing import Slots
from dialer.engine.pressure import TrunkPace
from dialer.engine.queue_watch import QUEUE_EVENTS, QueueWatch
from dialer.engine.screen_pop import screen_pop
from dialer.engine.tracker import LiveCall
from dialer.engine.recorder import Recorder
from dialer.engine.tracker import CallTracker, interrupted
from dialer.events import EventSink, LiveEvents
from dialer.runtime.tasks import stop_tasks
from dialer.storage.endings import Ending
from dialer.storage.repository import Repository, now_utc
from dialer.storage.worker import SqlWorker

log = logging.getLogger(__name__)

TRACKED_EVENTS = ["Hangup", "Newstate", "OriginateResponse", "UserEvent", *QUEUE_EVENTS]
SQL_THREADS = 4  # the engine's own SQL threads (claims, campaign states, resync)
SWEEP_MIN_AGE_S = 10.0  # an attempt claimed this long ago is tracked by its call task, if it has one
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
        self.sql = SqlWorker("dialer-sql", SQL_THREADS, self.settings.sql_timeout_s)
        self._orphans = {}
        self.live = LiveEvents(events, progress=lambda cid: self._sql(self.repo.progress, cid))  # events
        self.tracker.on_amd = self.live.amd  # events
        self.tracker.on_answer = self._on_answer
        self.queues = QueueWatch(self.ami, self.tracker, on_connect=self._screen_pop)
        if ivr is not None:  # the IVR's word on each transfer: reached an agent or abandoned
            ivr.on_transfer = self.queues.transfer_done
        self._queue_pacer: asyncio.Task[None] | None = None
        bind = repo.sessions.kw.get("bind")  # the database the journal belongs to (password hidden)
        journal = Journal(self.settings.journal or journal_path(str(getattr(bind, "url", "")), repo.node))
        self.recorder = Recorder(repo, self.settings.sql_timeout_s,
                                 sql=SqlWorker("dialer-endings", 1, self.settings.sql_timeout_s), journal=journal,
                                 retry_s=self.settings.sql_retry_s, replay_every_s=self.settings.replay_every_s)  # fmt: skip
        self._ready = asyncio.Event()  # AMI up and resynced: originating allowed
        self._stopping = asyncio.Event()
        self._poked = asyncio.Event()  # a campaign's state changed in this process: read states now
        self._calls: set[asyncio.Task[None]] = set()
        self._chores: set[asyncio.Task[None]] = set()
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._names: dict[int, str] = {}
        self._campaign_slots: dict[int, Slots] = {}
        self._trunk_slots: dict[str, Slots] = {}
        self._trunk_paces: dict[str, TrunkPace] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._started = now_utc()
        self.node = NodeKeeper(repo, ami_settings, self.settings, self.sql, lambda: len(self.tracker.calls))
        self._heartbeat: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (errors go to the caller: one clear line at start) and resync."""
        await self.ami.connect()
        await self.ami.wait_fully_booted(BOOT_TIMEOUT_S)
        if self.ivr is not None:
            await self.ivr.start(self.tracker, self.live, ami=self.ami, agi_url=self.settings.agi_url,
                                 node=self.repo.node, hooks=self.repo.ending_hooks)  # fmt: skip
        self.recorder.start()
        self.ami.on_disconnect(self._on_disconnect)
        self._events = self.ami.events(TRACKED_EVENTS)
        self._consumer = asyncio.create_task(self._consume(), name="ami-events")
        undone = await self._sql(self.repo.undo_unsent, self._started)  # claims an earlier run never sent
        if undone:
            log.warning("%d attempts claimed by an earlier run and never sent: undone", undone)
        await self._resync()
        self._watchdog = asyncio.create_task(self._watch_link(), name="ami-watchdog")
        self._sweeper = asyncio.create_task(self._sweep_every(), name="sweeper")
        self._queue_pacer = asyncio.create_task(self.queues.run(), name="queue-pacer")
        try:
            await self.node.beat(started=True)  # other hosts see this one (and it sees them)
        except Exception as exc:  # noqa: BLE001 - SQL away at start: the heartbeat loop tries again
            log.warning("node heartbeat failed at start (%s); retrying", exc)
        self._heartbeat = asyncio.create_task(self.node.run(), name="node-heartbeat")

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        failing = False
        try:
            while not stop.is_set():
                try:
                    await self._sync_campaigns()
                except Exception as exc:  # noqa: BLE001 - SQL unavailable: calls go on, try again
                    log.log(logging.DEBUG if failing else logging.WARNING, "reading the campaigns failed (%s); "
                            "trying again every %g s", exc, self.settings.poll_s)  # fmt: skip
                    failing = True
                else:
                    if failing:
                        log.info("campaigns readable again")
                    failing = False
                if self._orphans:
                    await self._undo_orphans()
                await self._until_next_poll(stop)
        finally:
            await self.drain()

    def poke(self) -> None:
        """A campaign's state was changed in this process (the dashboard): read the states at once
        rather than at the next poll, so a pause stops the originating within milliseconds."""
        self._poked.set()

    @property
    def originating(self) -> bool:
        """AMI up and resynced: calls may leave."""
        return self._ready.is_set()

    async def _until_next_poll(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._poked.wait())]
        try:
            await asyncio.wait(waits, timeout=self.settings.poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        self._poked.clear()

    async def run_until_finished(self, campaign_ids: list[int], timeout: float) -> None:
        """Run until the given campaigns are finished (tests, demo); then drain."""
        stop = asyncio.Event()

        async def watch() -> None:
            while True:
                try:
                    states = [await self._sql(self.repo.campaign, cid) for cid in campaign_ids]
                except Exception as exc:  # noqa: BLE001 - SQL unavailable for a while
                    log.debug("campaign states unreadable: %s", exc)
                    states = []
                settled = bool(states) and all(c is None or c.state != CampaignState.ACTIVE for c in states)
                if settled and not self._calls:
                    stop.set()
                    return
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait_for(self.run(stop), timeout)
        finally:
            watcher.cancel()

    async def drain(self) -> None:
        """Stop originating, let live calls end (up to the deadline), then hang up what is left
        through AMI: each of those records what its IVR knew. Endings are written or journaled."""
        self._stopping.set()
        await stop_tasks(self._runners.values(), self.settings.sql_timeout_s)  # (lost cancels: runtime.tasks)
        if self._orphans:
            await self._orphans_settled(self.settings.sql_timeout_s)
        if self._calls:
            log.info("draining: %d live calls, up to %g s", len(self._calls), self.settings.drain_timeout_s)
            await asyncio.wait(self._calls, timeout=self.settings.drain_timeout_s)
        await self._cut_the_rest()
        await self.live.stop()  # events: the last progress of each campaign
        await self.recorder.stop()
        if self.ivr is not None:
            await self.ivr.close(1.0)
        for task in self._calls | self._chores:
            task.cancel()
        for helper in (self._reconnecting, self._watchdog, self._sweeper, self._heartbeat, self._queue_pacer):
            if helper is not None:
                helper.cancel()
        if self._heartbeat is not None:
            await self.node.stopped()
        if hasattr(self, "_consumer"):
            self._consumer.cancel()
        self.ami.close()
        self.sql.close()
        self.recorder.sql.close()

    async def _cut_the_rest(self) -> None:
        """The drain deadline: a released slot must not leave a live channel behind."""
        left = list(self.tracker.calls.values())
        if not left:
            return
        why = f"still live at the drain deadline ({self.settings.drain_timeout_s:g} s)"
        log.info("drain deadline: hanging up %d calls", len(left))
        hung_up = await asyncio.gather(*(self._hang_up(call, why) for call in left))
        if any(hung_up) and self._calls:  # each call's task records it as it ends, with its IVR's report
            await asyncio.wait(self._calls, timeout=IVR_GRACE_S + 1)
        stuck = list(self.tracker.calls.values())  # AMI down: not hung up, or its end unseen
        for call in stuck:
            outcome, step, details, events = interrupted(call)
            reason = f"{why}; hanging it up failed or its end was not seen: recorded as the IVR knew it"
            self.tracker.forget(call.attempt_id)
            await self._end(call, outcome=outcome, step=step, details=details, events=events, reason=reason)

    def _screen_pop(self, call: LiveCall, event: Any) -> None:
        """An agent answered a transferred caller (AgentConnect): the screen-pop event."""
        screen = screen_pop(call, event)
        log.info("attempt %s: agent %s answered after %s s", call.attempt_id, screen["agent_interface"],
                 screen["queue_wait_s"])  # fmt: skip
        self.live.screen_pop(call.attempt_id, call.campaign_id, screen)  # events

    # -- sweep ----------------------------------------------------------------------------
    async def _sweep_every(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self.settings.sweep_every_s)
            if not self._ready.is_set() or self._stopping.is_set():
                continue
            try:
                await self._sweep()
            except Exception as exc:  # noqa: BLE001 - SQL unavailable: next time
                log.warning("sweeping untracked attempts failed: %s", exc)

    async def _sweep(self) -> int:
        """End this run's attempts SQL still has as live that no call tracks and the recorder does
        not hold (an ending lost on the way); the retry rules decide what comes next."""
        young = now_utc() - timedelta(seconds=SWEEP_MIN_AGE_S)
        rows = await self._sql(self.repo.live_attempts)
        lost = [a.id for a in rows if self._started <= a.created_at < young and a.id not in self.tracker.calls
                and not self.recorder.holds(a.id) and not (self.ivr and self.ivr.holds(a.id))]  # fmt: skip
        reason = "no call of this run tracked it any more (its ending was lost)"
        for attempt_id in lost:
            log.warning("attempt %s: %s: ending it as unknown", attempt_id, reason)
        await asyncio.gather(*(self.recorder.record(Ending(a, reason, outcome=Outcome.UNKNOWN)) for a in lost))
        if freed := await self._sql(self.repo.sweep_guards):
            log.warning("%d people's guards were held by no live attempt: given back", freed)
        return len(lost)
