"""One call: Originate, follow the channel to its end, and hand the ending to the recorder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from dialer.ami import AmiActionError, AmiDisconnected, AmiTimeout
from dialer.domain import AttemptState, DialResult, Outcome
from dialer.engine.base import EngineBase
from dialer.engine.pacing import Slots
from dialer.engine.tracker import LiveCall, connected_outcome, dial_result
from dialer.ivr.dialplan import originate_variables
from dialer.storage.claims import Plan
from dialer.storage.endings import Ending
from dialer.storage.models import Campaign

log = logging.getLogger(__name__)


IVR_GRACE_S = 5.0


class Calls(EngineBase):
    """Part of Engine: the life of one attempt once it is claimed."""

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
        if plan.dial_by is not None and self.repo.clock() > plan.dial_by:  # the window closes too soon
            log.warning("attempt %s: not sent: the calling window closes within the ring time and "
                        "margin (it had to leave by %s UTC)", plan.attempt_id, f"{plan.dial_by:%H:%M:%S}")
            await self._sql(self.repo.unclaim, [plan])
            return
        token, call.agi_token = call.agi_token or "", None  # kept no longer than the Originate needs it
        variables = originate_variables(plan.attempt_id, campaign.flow, campaign.language, campaign.settings,
                                        self.settings.agi_url, token)  # fmt: skip
        self.live.started(plan)  # events
        try:
            resp = await self.ami.originate(
                channel=(plan.template or campaign.trunk_template).format(number=plan.number),
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
