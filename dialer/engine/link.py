"""The engine's AMI link: events into the call tracker, reconnect with backoff, a ping watchdog,
and resync (attempts live in SQL matched by ChannelId against CoreShowChannels)."""

from __future__ import annotations

import asyncio
import logging

from dialer.ami import AmiDisconnected, AmiError, AmiTimeout
from dialer.domain import Outcome
from dialer.engine.dialing import Dialing
from dialer.engine.pacing import Slots
from dialer.engine.tracker import LiveCall
from dialer.runtime import metrics
from dialer.storage.endings import Ending

log = logging.getLogger(__name__)


BOOT_TIMEOUT_S = 60.0
PING_EVERY_S, PING_TIMEOUT_S = 10.0, 5.0


class Link(Dialing):
    """Part of Engine: what it does with the AMI connection."""

    async def _consume(self) -> None:
        while True:
            try:
                event = await self._events.get(3600)
            except asyncio.TimeoutError:
                continue
            self.tracker.feed(event)
            self.queues.feed(event)

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
                    metrics.AMI_RECONNECTS.inc()
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
        """Match attempts live in SQL with Asterisk's channels (by ChannelId). Attempts whose
        ending the recorder holds (queued, or journaled until SQL takes it) are already over."""
        rows = [a for a in await self._sql(self.repo.live_attempts) if not self.recorder.holds(a.id)]
        adopted: dict[str, LiveCall] = {}
        for a in rows:  # tracked before the snapshot, so no Hangup in between is missed
            if a.id not in self.tracker.calls and a.created_at < self._started:
                adopted[a.id] = self.tracker.track(LiveCall(a.id, a.campaign_id, a.contact_id))
        channels = await self.ami.action_list({"Action": "CoreShowChannels"}, timeout=30)
        up = {str(c.get("Uniqueid")): str(c.get("ChannelStateDesc")) for c in channels}
        gone: list[Ending] = []
        for a in rows:
            call = self.tracker.calls.get(a.id)
            if call is None:
                continue  # ended meanwhile, or claimed by this run and not yet handed to its task
            if a.id in up and not call.ended.is_set():
                if up[a.id] == "Up":  # from here on, Newstate and OriginateResponse are followed too
                    self.tracker.answered(call, "up in Asterisk at resync")
                if a.id in adopted:
                    await self._adopt(call, a.trunk_template, a.max_concurrent)
                continue
            if a.id in adopted:  # from an earlier run of the daemon
                self.tracker.forget(a.id)
                reason = "not in Asterisk at resync (the daemon restarted)"
                gone.append(Ending(a.id, reason, outcome=Outcome.UNKNOWN, cause=call.hangup_cause))
            else:  # ours, ended while AMI was down: its IVR's report, if any, still wins (Calls._follow)
                call.details["lost"] = True
                call.ended.set()
        await asyncio.gather(*(self.recorder.record(e) for e in gone))
        try:  # the queues as they are now: members, pauses, callers waiting
            await self.queues.resync()
        except AmiError as exc:  # the pacer asks again; paced campaigns wait until it answers
            log.warning("resync: QueueStatus failed (%s); the queue pacer asks again", exc)
            for state in self.queues.queues.values():
                state.known = False
        log.info("resync: %d channels in Asterisk; %d live attempts gone from it, %d followed",
                 len(up), sum(1 for a in rows if a.id not in up), len(self.tracker.calls))  # fmt: skip
        self._ready.set()

    async def _adopt(self, call: LiveCall, trunk_template: str, max_concurrent: int) -> None:
        """Follow a call an earlier run of the daemon started; it counts against both caps."""
        slots = self._campaign_slots.setdefault(call.campaign_id, Slots(max_concurrent))
        trunk = self._trunk_slot(trunk_template)
        slots.hold()
        trunk.hold()
        log.info("attempt %s: still live in Asterisk, followed to its end", call.attempt_id)
        where = (self._names.get(call.campaign_id, str(call.campaign_id)), trunk_template)
        self._spawn(self._guarded(call, [slots, trunk], self._follow(call), where))

