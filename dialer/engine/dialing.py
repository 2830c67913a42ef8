"""The engine's dialing: one task per active campaign, pacing (campaign slots, trunk slots, a
token bucket, the trunk's calls/s under carrier pressure) and claims in SQL, each claimed
attempt handed to its own call task."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from concurrent.futures import Future
from typing import Any

from dialer.engine.call import Calls
from dialer.engine.pacing import Slots, TokenBucket, take_more
from dialer.engine.queue_watch import paced_queue
from dialer.engine.tracker import LiveCall
from dialer.ivr.trust import new_token, token_hash
from dialer.reports import transfers
from dialer.storage import agi_tokens
from dialer.storage.claims import Plan, Screen
from dialer.storage.models import Campaign
from dialer.storage.sms_store import sms_only

log = logging.getLogger(__name__)


CLAIM_BATCH = 50  # attempts committed in one transaction when slots and tokens allow


class Dialing(Calls):
    """Part of Engine: which calls leave, and when."""

    def _trunk_slot(self, template: str) -> Slots:
        return self._trunk_slots.setdefault(template, Slots(self.settings.trunk_caps.get(template, 1_000_000)))

    async def _sync_campaigns(self) -> None:
        # SMS-only campaigns are not dialled: their contacts get texts (dialer.sms.producers)
        active = {c.id: c for c in await self._sql(self.repo.active_campaigns) if not sms_only(c)}
        self._names.update((cid, c.name) for cid, c in active.items())
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
        try:
            if self.ivr is not None and not await self.ivr.may_dial(campaign, self.repo):  # shared prompts
                return
        except Exception as exc:  # noqa: BLE001 - SQL unavailable: the next poll starts the loop again
            log.warning("campaign %s: checking its prompts failed (%s); trying again", campaign.name, exc)
            return
        screen = self.ivr.contact_screen(campaign) if self.ivr is not None else None
        checked_on = self.ivr.today() if self.ivr is not None else None
        log.info("campaign %s: dialing (cap %d, %g calls/s)", campaign.name, campaign.max_concurrent,
                 campaign.calls_per_second)  # fmt: skip
        slots = self._campaign_slots.setdefault(campaign.id, Slots(campaign.max_concurrent))
        slots.limit = campaign.max_concurrent
        queue = paced_queue(campaign.flow, campaign.settings)
        if queue is not None:  # the agents set the pace; the cap stays the upper bound
            try:
                history = await self._sql(transfers.history, self.repo.sessions, campaign.id, self.repo.clock())
            except Exception as exc:  # noqa: BLE001 - SQL unavailable: the next poll starts the loop again
                log.warning("campaign %s: reading its abandonment history failed (%s)", campaign.name, exc)
                return
            self.queues.pace(campaign.id, queue, campaign.max_concurrent, slots, campaign.settings, history)
            log.info("campaign %s: paced on queue %s (%d transfer requests, %d abandoned in 30 days)",
                     campaign.name, queue, *history)  # fmt: skip
        try:
            await self._dial(campaign, slots, screen, checked_on)
        finally:
            if queue is not None:
                self.queues.unpace(campaign.id)
                slots.limit = max(1, campaign.max_concurrent)

    async def _dial(self, campaign: Campaign, slots: Slots, screen: Screen | None, checked_on: Any) -> None:
        self.live.touch(campaign.id)  # events: progress
        trunk = self._trunk_slot(campaign.trunk_template)
        pace = self._trunk_pace(campaign.trunk_template)  # the trunk's calls/s, all campaigns together
        # a tenth of a second's worth of calls may leave together (and share one SQL claim)
        bucket = TokenBucket(campaign.calls_per_second, burst=campaign.calls_per_second / 10)
        while not self._stopping.is_set():
            await self._ready.wait()
            if self.ivr is not None and self.ivr.today() != checked_on:  # date read-backs from today on
                if not await self.ivr.may_keep_dialing(campaign, self.repo):
                    return
                checked_on = self.ivr.today()
            if self.ivr is not None:  # claim no faster than the pool prepares
                await self.ivr.audio.room()
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
                plans, held = await self._claim(campaign.id, wanted, screen) if self._ready.is_set() else ([], "")
            except asyncio.CancelledError:  # paused or stopped while holding slots
                self._give_back(slots, trunk, wanted)
                raise
            except Exception as exc:  # noqa: BLE001 - SQL trouble: keep the slots, try again
                self._give_back(slots, trunk, wanted)
                log.error("campaign %s: claiming contacts failed (%s); retrying", campaign.name, exc)
                await asyncio.sleep(self.settings.poll_s)
                continue
            self._give_back(slots, trunk, wanted - len(plans))
            if not plans:  # held back by a limit: contacts are still due, so not finished
                if not held and self._ready.is_set() and await self._settled(campaign):
                    return
                # nothing due, or the limits all hosts share are full: look again about when the
                # next call may leave (the shared calls/s bucket refills at the campaign's rate),
                # at a jittered time: hosts polling in step would leave every token to the one
                # whose poll falls just after each refill (the other host never dialled)
                interval = min(self.settings.poll_s, 0.5, max(0.02, 1.0 / campaign.calls_per_second))
                await asyncio.sleep(interval * random.uniform(0.5, 1.5))
                continue
            # personal audio prepared now, in the pool, while the claim's calls wait for their turn
            audio = self.ivr.prepare(screen, [p for p, _ in plans]) if self.ivr and screen else {}
            for plan, token in plans:  # tracked now, before any await, so a resync sees them as ours
                call = self.tracker.track(LiveCall(plan.attempt_id, plan.campaign_id, plan.contact_id,
                                                   agi_token=token, agi_token_hash=token_hash(token)))  # fmt: skip
                work = self._call(campaign, plan, call, audio.get(plan.contact_id))
                where = (campaign.name, campaign.trunk_name or plan.template or campaign.trunk_template)
                self._spawn(self._guarded(call, [slots, trunk], work, where))

    async def _settled(self, campaign: Campaign) -> bool:
        """True once the campaign is finished (a contact whose ending is journaled is not settled)."""
        try:
            return await self._sql(self.repo.finish_campaign_if_settled, campaign.id)
        except Exception as exc:  # noqa: BLE001 - SQL unavailable: ask again later
            log.debug("campaign %s: checking whether it is finished failed: %s", campaign.name, exc)
            return False

    async def _claim(self, campaign_id: int, wanted: int,
                     screen: Screen | None = None) -> tuple[list[tuple[Plan, str]], str]:  # fmt: skip
        """Claim in SQL, then confirm the claim (its Originates may leave) with each attempt's AGI
        token hash stored; with no attempts, say which limit held the claim back (if one did). A claim given up on (SQL too slow, or cancelled meanwhile) may still
        commit: its token goes to _orphans, and _undo_orphans undoes it once its SQL is over."""
        token = str(uuid.uuid4())
        job = self.sql.submit(self.repo.claim, campaign_id, wanted, token=token, screen=screen)
        try:
            plans = await self.sql.wait(job, what="claim")
        except BaseException:
            failed = job.done() and not job.cancelled() and job.exception() is not None
            if not failed:  # a claim that failed in SQL was rolled back: nothing to undo
                self._orphans[token] = job
            raise
        if not plans:
            return [], plans.why
        confirm = self.sql.submit(self._confirm_with_tokens, token, plans)
        try:
            return await self.sql.wait(confirm, what="confirm claim"), ""
        except BaseException:
            self._orphans[token] = confirm
            raise

    async def _undo_orphans(self) -> None:
        """Undo the claims given up on whose SQL is over (never raises: retried on the next round)."""
        for token, job in list(self._orphans.items()):
            if not job.done():
                continue  # still running in its thread: undone once it ends
            try:
                undone = await self._sql(self.repo.undo_claim, token)
            except Exception as exc:  # noqa: BLE001 - SQL still in trouble: next round
                log.warning("undoing claim %s failed (%s); retrying", token, exc)
                return
            del self._orphans[token]
            if undone:
                log.warning("claim %s committed after the engine gave up on it: %d attempts undone, "
                            "never sent", token, undone)  # fmt: skip

    async def _orphans_settled(self, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) for the SQL of claims given up on, then undo them (drain)."""
        running: list[Future[Any]] = [j for j in self._orphans.values() if not j.done()]
        if running:
            await asyncio.wait([asyncio.wrap_future(j) for j in running], timeout=timeout_s)
        await self._undo_orphans()

    def _confirm_with_tokens(self, claim_token: str, plans: list[Plan]) -> list[tuple[Plan, str]]:
        """Each attempt's AGI token hash (one short transaction for the batch), then the claim's
        confirmation: both committed before any Originate. If either fails, the claim stays
        unconfirmed and is undone by its token."""
        tokens = [(plan, new_token()) for plan in plans]
        agi_tokens.store(self.repo.sessions, {plan.attempt_id: token_hash(token) for plan, token in tokens})
        confirmed = self.repo.confirm_claim(claim_token)
        if len(confirmed) < len(tokens):  # another node took this one for dead and resolved them
            log.warning("claim %s: %d of its %d attempts were resolved by another node before their "
                        "confirmation: not sent", claim_token, len(tokens) - len(confirmed), len(tokens))  # fmt: skip
        return [(plan, token) for plan, token in tokens if plan.attempt_id in confirmed]

    @staticmethod
    def _give_back(slots: Slots, trunk: Slots, count: int) -> None:
        for _ in range(count):
            slots.release()
            trunk.release()

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

