"""The daemon's run loop: every active campaign, paced, tracked, recorded, drained on stop.

- An attempt row is committed (Repository.claim_next) before its Originate is sent, and an
  Originate is sent once: a disconnect while it is in flight leaves the attempt for resync.
- Resync (on start and after every reconnect): attempts live in SQL are matched by ChannelId
  against CoreShowChannels; calls Asterisk still has are followed to their end, the rest end
  as `unknown` and the retry rules decide.
- Nothing is originated while AMI is down or a resync is running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from dialer.ami import AmiActionError, AmiClient, AmiDisconnected, AmiError, AmiTimeout
from dialer.calls import CallTracker, LiveCall, connected_outcome, dial_result, originate_variables
from dialer.config import AmiSettings, EngineSettings
from dialer.ivr.host import IvrHost
from dialer.domain import AttemptState, CampaignState, DialResult, Outcome
from dialer.events import EventSink, LiveEvents
from dialer.pacing import Slots, TokenBucket, take_more
from dialer.storage.models import Campaign
from dialer.recorder import Recorder
from dialer.storage.repository import Ending, Plan, Repository, now_utc

log = logging.getLogger(__name__)

TRACKED_EVENTS = ["Hangup", "Newstate", "UserEvent"]
SQL_TIMEOUT_S = 10.0
BOOT_TIMEOUT_S = 60.0
# SQL runs in worker threads; a short GIL switch interval keeps the event loop's lag low
# while they work (the daemon sets it: sys.setswitchinterval).
SWITCH_INTERVAL_S = 0.001
CLAIM_BATCH = 50
IVR_GRACE_S = 5.0
PING_EVERY_S, PING_TIMEOUT_S = 10.0, 5.0  # attempts committed in one transaction when slots and tokens allow


class Engine:
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

    @staticmethod
    async def _sql(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), SQL_TIMEOUT_S)

    # -- AMI connection ---------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            try:
                event = await self._events.get(3600)
            except asyncio.TimeoutError:
                continue
            self.tracker.feed(event)

    def _on_disconnect(self, _exc: BaseException | None) -> None:
        self._ready.clear()
        if not self._stopping.is_set() and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self.ami.connect()
                # AMI answers while Asterisk still boots; an Originate then fails (no dialplan yet)
                await self.ami.wait_fully_booted(BOOT_TIMEOUT_S)
                await self._resync()
                if self.ami.connected:
                    log.info("AMI reconnected and resynced")
                    return
                raise AmiDisconnected("the link dropped again during resync")
            except Exception as exc:  # noqa: BLE001 - AMI or SQL: try again, never give up
                self._ready.clear()
                self.ami.close()
                log.warning("AMI reconnect failed (%s); next try in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _watch_link(self) -> None:
        """Ping Asterisk; a link that stops answering (half-open, hung) is closed and redone."""
        while not self._stopping.is_set():
            await asyncio.sleep(PING_EVERY_S)
            if not self._ready.is_set():
                continue
            try:
                await self.ami.ping(timeout=PING_TIMEOUT_S)
            except AmiTimeout:
                log.warning("AMI did not answer a ping within %g s: reconnecting", PING_TIMEOUT_S)
                self.ami.close()
                self._on_disconnect(None)
            except AmiError:
                pass  # already down: the reconnect task has it

    async def _resync(self) -> None:
        """Match attempts live in SQL with Asterisk's channels (by ChannelId)."""
        rows = await self._sql(self.repo.live_attempts)
        adopted: dict[str, LiveCall] = {}
        for a in rows:  # tracked before the snapshot, so no Hangup in between is missed
            if a.id not in self.tracker.calls and a.created_at < self._started:
                adopted[a.id] = self.tracker.track(LiveCall(a.id, a.campaign_id, a.contact_id))
        channels = await self.ami.action_list({"Action": "CoreShowChannels"}, timeout=30)
        up = {str(c.get("Uniqueid")): str(c.get("ChannelStateDesc")) for c in channels}
        unseen = 0
        for a in rows:
            call = self.tracker.calls.get(a.id)
            if call is None:
                continue  # ended meanwhile, or claimed by this run and not yet handed to its task
            if a.id in up and not call.ended.is_set():
                if up[a.id] == "Up" and call.state != AttemptState.ANSWERED:
                    call.transition(AttemptState.ANSWERED, "up in Asterisk at resync")
                if a.id in adopted:
                    await self._adopt(call, a.trunk_template, a.max_concurrent)
                continue
            unseen += 1
            if a.id in adopted:  # from an earlier run of the daemon
                self.tracker.forget(a.id)
                reason = "not in Asterisk at resync (the daemon restarted)"
                await self.recorder.record(Ending(a.id, reason, outcome=Outcome.UNKNOWN, cause=call.hangup_cause))
            else:  # ours, ended while AMI was down
                call.details["lost"] = True
                call.ended.set()
        log.info("resync: %d channels in Asterisk; %d live attempts gone from it (unknown), %d followed",
                 len(up), unseen, len(self.tracker.calls))  # fmt: skip
        self._ready.set()

    async def _adopt(self, call: LiveCall, trunk_template: str, max_concurrent: int) -> None:
        """Follow a call an earlier run of the daemon started; it counts against both caps."""
        slots = self._campaign_slots.setdefault(call.campaign_id, Slots(max_concurrent))
        trunk = self._trunk_slot(trunk_template)
        slots.hold()
        trunk.hold()
        log.info("attempt %s: still live in Asterisk, followed to its end", call.attempt_id)
        self._spawn(self._guarded(call, [slots, trunk], self._follow(call)))

    def _trunk_slot(self, template: str) -> Slots:
        return self._trunk_slots.setdefault(template, Slots(self.settings.trunk_caps.get(template, 1_000_000)))

    # -- campaigns --------------------------------------------------------------------
    async def _sync_campaigns(self) -> None:
        active = {c.id: c for c in await self._sql(self.repo.active_campaigns)}
        for cid, task in list(self._runners.items()):
            if cid not in active or task.done():
                if not task.done():
                    log.info("campaign %s no longer active: not originating", cid)
                    task.cancel()
                del self._runners[cid]
        for cid, campaign in active.items():
            if cid not in self._runners:
                self._runners[cid] = asyncio.create_task(self._campaign_loop(campaign), name=f"campaign-{cid}")

    async def _campaign_loop(self, campaign: Campaign) -> None:
        if self.ivr is not None and not await self.ivr.may_dial(campaign, self.repo):  # prompts rendered?
            return
        log.info("campaign %s: dialing (cap %d, %g calls/s)", campaign.name, campaign.max_concurrent,
                 campaign.calls_per_second)  # fmt: skip
        slots = self._campaign_slots.setdefault(campaign.id, Slots(campaign.max_concurrent))
        slots.limit = campaign.max_concurrent
        self.live.touch(campaign.id)  # events: progress
        trunk = self._trunk_slot(campaign.trunk_template)
        # a tenth of a second's worth of calls may leave together (and share one SQL claim)
        bucket = TokenBucket(campaign.calls_per_second, burst=campaign.calls_per_second / 10)
        while not self._stopping.is_set():
            await self._ready.wait()
            if not await slots.acquire(timeout=self.settings.poll_s):
                continue
            try:
                got_trunk = await trunk.acquire(timeout=self.settings.poll_s)
            except BaseException:
                slots.release()
                raise
            if not got_trunk:
                slots.release()
                continue
            wanted = 1
            try:
                await bucket.acquire()
                wanted += take_more(slots, trunk, bucket, CLAIM_BATCH - 1)  # one SQL claim for all
                plans = await self._claim(campaign.id, wanted) if self._ready.is_set() else []
            except asyncio.CancelledError:  # paused or stopped while holding slots
                self._give_back(slots, trunk, wanted)
                raise
            except Exception as exc:  # noqa: BLE001 - SQL trouble: keep the slots, try again
                self._give_back(slots, trunk, wanted)
                log.error("campaign %s: claiming contacts failed (%s); retrying", campaign.name, exc)
                await asyncio.sleep(self.settings.poll_s)
                continue
            self._give_back(slots, trunk, wanted - len(plans))
            if not plans:
                if self._ready.is_set() and await self._sql(self.repo.finish_campaign_if_settled, campaign.id):
                    return
                await asyncio.sleep(min(self.settings.poll_s, 0.5))
                continue
            for plan in plans:  # tracked now, before any await, so a resync sees them as ours
                call = self.tracker.track(LiveCall(plan.attempt_id, plan.campaign_id, plan.contact_id))
                self._spawn(self._guarded(call, [slots, trunk], self._call(campaign, plan, call)))

    async def _claim(self, campaign_id: int, wanted: int) -> list[Plan]:
        """Claim in SQL; if cancelled meanwhile, the claim still completes and is undone."""
        claim = asyncio.ensure_future(self._sql(self.repo.claim, campaign_id, wanted))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            plans = await claim
            await self._sql(self.repo.unclaim, plans)
            raise

    @staticmethod
    def _give_back(slots: Slots, trunk: Slots, count: int) -> None:
        for _ in range(count):
            slots.release()
            trunk.release()

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    # -- one call ---------------------------------------------------------------------
    async def _guarded(self, call: LiveCall, slots: list[Slots], work: Coroutine[Any, Any, None]) -> None:
        """Run one call's work; whatever happens, its slots are released exactly once."""
        try:
            await work
        except Exception:  # noqa: BLE001 - a bug or SQL trouble must not leak the slot
            log.exception("attempt %s: unexpected error", call.attempt_id)
            await self._end(call, outcome=Outcome.UNKNOWN, reason="the dialer hit an unexpected error")
        finally:
            self.tracker.forget(call.attempt_id)
            for slot in slots:
                slot.release()

    async def _call(self, campaign: Campaign, plan: Plan, call: LiveCall) -> None:
        if not self._ready.is_set() or call.ended.is_set():  # AMI dropped since the claim: never sent
            await self._sql(self.repo.unclaim, [plan])
            return
        variables = originate_variables(plan.attempt_id, campaign.flow, campaign.language, campaign.settings,
                                        self.settings.agi_url)  # fmt: skip
        self.live.started(plan)  # events
        try:
            resp = await self.ami.originate(
                channel=campaign.trunk_template.format(number=plan.number),
                context="dialer-outbound",
                channel_id=plan.attempt_id,
                timeout_ms=campaign.ring_timeout_s * 1000,
                caller_id=campaign.caller_id,
                variables=variables,
            )
        except AmiDisconnected:
            log.warning("attempt %s: AMI dropped with the Originate in flight; resync decides", plan.attempt_id)
            await self._follow(call)
            return
        except AmiTimeout:
            log.warning("attempt %s: no OriginateResponse in time; following the channel", plan.attempt_id)
            await self._follow(call)
            return
        except AmiActionError as exc:
            await self._end(call, dial_result=DialResult.FAILED, reason=f"Originate refused: {exc.message}")
            return
        if resp.get("Response") == "Success":
            call.transition(AttemptState.ANSWERED, "answered")
            self.live.answered(call)  # events
            try:
                await self._sql(self.repo.mark_answered, plan.attempt_id)
            except Exception as exc:  # noqa: BLE001 - the answer time is lost, the call is not
                log.error("attempt %s: could not record the answer: %s", plan.attempt_id, exc)
            await self._follow(call)
            return
        reason = int(resp.get("Reason") or 0)
        if call.hangup_cause is None:  # the channel's Hangup carries the Q.850 cause
            try:
                await asyncio.wait_for(call.ended.wait(), 2.0)
            except asyncio.TimeoutError:
                pass
        result = dial_result(reason, call.hangup_cause)
        call.transition(AttemptState.ENDED, result.value)
        await self._end(call, dial_result=result, reason=f"originate reason {reason}")

    async def _follow(self, call: LiveCall) -> None:
        """Wait for the end of a call Asterisk has (or had: resync sets `lost`)."""
        try:
            await asyncio.wait_for(call.ended.wait(), self.settings.max_call_s)
        except asyncio.TimeoutError:
            await self._end(call, outcome=Outcome.UNKNOWN, reason=f"no end after {self.settings.max_call_s:g} s")
            return
        if call.ivr_done is not None:  # the IVR hands over its outcome and events as it closes
            try:
                await asyncio.wait_for(call.ivr_done.wait(), IVR_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("attempt %s: the IVR session outlived its call by %g s", call.attempt_id, IVR_GRACE_S)
        if call.details.pop("lost", False):
            await self._end(call, outcome=Outcome.UNKNOWN, reason="ended while AMI was disconnected")
            return
        if call.state != AttemptState.ANSWERED:
            await self._end(call, outcome=Outcome.UNKNOWN, reason="ended; whether it was answered is unknown")
            return
        outcome, reason = connected_outcome(call)
        call.transition(AttemptState.ENDED, outcome.value)
        await self._end(call, outcome=outcome, reason=reason)

    async def _end(self, call: LiveCall, **result: Any) -> None:
        ending = Ending(call.attempt_id, cause=call.hangup_cause, step=call.step, details=call.details,
                        events=call.events, **result)
        try:
            await self.recorder.record(ending)
        except Exception as exc:  # noqa: BLE001 - logged; the attempt stays live for the next resync
            log.error("attempt %s: could not record its end: %s", call.attempt_id, exc)
        self.live.ended(ending, call.campaign_id)  # events
