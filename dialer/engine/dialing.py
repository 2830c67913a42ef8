"""The engine's dialing: one task per active campaign, pacing (campaign slots, trunk slots, a
token bucket, the trunk's calls/s under carrier pressure) and claims in SQL, each claimed
attempt handed to its own call task."""

from __future__ import annotations

import asyncio
import logging

from dialer.engine.call import Calls
from dialer.engine.pacing import Slots, TokenBucket, take_more
from dialer.engine.tracker import LiveCall
from dialer.storage.claims import Plan
from dialer.storage.models import Campaign

log = logging.getLogger(__name__)


CLAIM_BATCH = 50  # attempts committed in one transaction when slots and tokens allow


class Dialing(Calls):
    """Part of Engine: which calls leave, and when."""

    def _trunk_slot(self, template: str) -> Slots:
        return self._trunk_slots.setdefault(template, Slots(self.settings.trunk_caps.get(template, 1_000_000)))

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
        pace = self._trunk_pace(campaign.trunk_template)  # the trunk's calls/s, all campaigns together
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
                await pace.acquire()
                wanted += take_more(slots, trunk, bucket, CLAIM_BATCH - 1, pace)  # one SQL claim for all
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

