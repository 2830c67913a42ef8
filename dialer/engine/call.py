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
from dialer.engine.pressure import TrunkPace
from dialer.engine.results import FarEnd, carrier_took, classify
from dialer.engine.tracker import LiveCall, connected_outcome
from dialer.ivr.dialplan import originate_variables
from dialer.storage.claims import Plan
from dialer.storage.endings import Ending
from dialer.storage.models import Campaign

log = logging.getLogger(__name__)


IVR_GRACE_S = 5.0
GONE_GRACE_S = 2.0  # the channel's last reports (hangup handler, Hangup) after the OriginateResponse


class Calls(EngineBase):
    """Part of Engine: the life of one attempt once it is claimed."""

    def _trunk_pace(self, template: str) -> TrunkPace:
        if template not in self._trunk_paces:
            self._trunk_paces[template] = TrunkPace(template, self.settings.trunk_cps.get(template))
        return self._trunk_paces[template]

    def _carrier_said(self, template: str, far: FarEnd) -> None:
        """Feed the trunk's pacing: the carrier refused the call (overload) or took it."""
        took = carrier_took(far)
        if took is True:
            self._trunk_pace(template).took()
        elif took is False:
            self._trunk_pace(template).refused()

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
            self._trunk_pace(campaign.trunk_template).took()
            call.transition(AttemptState.ANSWERED, "answered")
            self.live.answered(call)  # events
            try:
                await self._sql(self.repo.mark_answered, plan.attempt_id)
            except Exception as exc:  # noqa: BLE001 - the answer time is lost, the call is not
                log.error("attempt %s: could not record the answer: %s", plan.attempt_id, exc)
            await self._follow(call)
            return
        reason = int(resp.get("Reason") or 0)
        # the hangup handler's report (SIP cause, tone) and the Hangup (Q.850 cause) may come after
        await _wait(call.gone, GONE_GRACE_S)
        far = call.far_end(reason)
        result, why = classify(far)
        self._carrier_said(campaign.trunk_template, far)
        call.transition(AttemptState.ENDED, result.value)
        await self._end(call, dial_result=result, reason=why)

    async def _follow(self, call: LiveCall) -> None:
        """Wait for the end of a call Asterisk has (or had: resync sets `lost`)."""
        try:
            await asyncio.wait_for(call.ended.wait(), self.settings.max_call_s)
        except asyncio.TimeoutError:
            await self._end(call, outcome=Outcome.UNKNOWN, reason=f"no end after {self.settings.max_call_s:g} s")
            return
        if call.ivr_done is not None:  # the IVR hands over its outcome and events as it closes
            if not await _wait(call.ivr_done, IVR_GRACE_S):
                log.warning("attempt %s: the IVR session outlived its call by %g s", call.attempt_id, IVR_GRACE_S)
        if call.details.pop("lost", False):
            await self._end(call, outcome=Outcome.UNKNOWN, reason="ended while AMI was disconnected")
            return
        if call.state != AttemptState.ANSWERED:
            await self._end(call, outcome=Outcome.UNKNOWN, reason="ended; whether it was answered is unknown")
            return
        await _wait(call.gone, GONE_GRACE_S)  # the hangup handler's SIP cause comes before the Hangup
        outcome, reason = connected_outcome(call)
        call.transition(AttemptState.ENDED, outcome.value)
        await self._end(call, outcome=outcome, reason=reason)

    async def _end(self, call: LiveCall, **result: Any) -> None:
        ending = Ending(call.attempt_id, cause=call.hangup_cause, step=call.step, details=call.details,
                        events=call.events, sip_code=call.sip_code, **result)
        try:
            await self.recorder.record(ending)
        except Exception as exc:  # noqa: BLE001 - logged; the attempt stays live for the next resync
            log.error("attempt %s: could not record its end: %s", call.attempt_id, exc)
        self.live.ended(ending, call.campaign_id)  # events


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; whether it came."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True
