"""One call: Originate, follow the channel to its end, and hand the ending to the recorder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from dialer.ami import AmiActionError, AmiDisconnected, AmiError, AmiTimeout
from dialer.domain import AttemptState, DialResult, Outcome
from dialer.engine.base import EngineBase
from dialer.engine.pacing import Slots
from dialer.engine.pressure import TrunkPace
from dialer.engine.results import FarEnd, carrier_took, classify
from dialer.engine.tracker import LiveCall, connected_outcome
from dialer.ivr.dialplan import originate_variables
from dialer.ivr.jit_audio import Preparation
from dialer.runtime import metrics
from dialer.storage.claims import Plan
from dialer.storage.endings import Ending
from dialer.storage.models import Campaign

log = logging.getLogger(__name__)


IVR_GRACE_S = 5.0
RESPONSE_GRACE_S = 2.0  # an OriginateResponse follows the Hangup of a call that failed
GONE_GRACE_S = 2.0  # the channel's last reports (hangup handler, Hangup) after the OriginateResponse
HANGUP_TIMEOUT_S, HANGUP_CAUSE = 5.0, 16  # normal clearing


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

    async def _guarded(self, call: LiveCall, slots: list[Slots], work: Coroutine[Any, Any, None],
                       where: tuple[str, str] = ("", "")) -> None:  # fmt: skip
        """Run one call's work; whatever happens, its slots are released exactly once. `where`:
        its campaign and trunk, the labels of the live-calls gauge."""
        live = metrics.LIVE_CALLS.labels(*where)
        live.inc()
        try:
            await work
        except Exception:  # noqa: BLE001 - a bug or SQL trouble must not leak the slot
            log.exception("attempt %s: unexpected error", call.attempt_id)
            if not call.ended.is_set():  # a released slot leaves no live channel behind
                await self._hang_up(call, "the dialer hit an unexpected error")
            await self._end(call, outcome=Outcome.UNKNOWN, reason="the dialer hit an unexpected error")
        finally:
            live.dec()
            self.tracker.forget(call.attempt_id)
            self.queues.call_over(call)
            if self.ivr is not None:
                self.ivr.call_over(call.contact_id)  # its audio goes once its contact is settled
            for slot in slots:
                slot.release()

    def _on_answer(self, call: LiveCall) -> None:
        """The tracker saw the answer: live event now, answer time to SQL in the background (the
        ending carries it too, so a failed write loses nothing)."""
        self.live.answered(call)  # events

        async def write() -> None:
            try:
                await self._sql(self.repo.mark_answered, call.attempt_id, call.answered_at)
            except Exception as exc:  # noqa: BLE001 - best effort, see above
                log.warning("attempt %s: could not record the answer yet: %s", call.attempt_id, exc)

        task = asyncio.get_running_loop().create_task(write())
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _call(self, campaign: Campaign, plan: Plan, call: LiveCall, audio: Preparation | None = None) -> None:
        if audio is not None and self.ivr is not None:  # its personal audio, before the Originate
            problem = await self.ivr.audio_ready(audio)
            if problem is not None:
                log.error("attempt %s: not sent: %s; contact parked", plan.attempt_id, problem)
                await self._sql(self.repo.unclaim, [plan], problem)  # `dialer explain` tells why
                return
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
        metrics.ORIGINATES.labels(campaign.name, campaign.trunk_name or plan.template or campaign.trunk_template).inc()
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
        template = plan.template or campaign.trunk_template
        if resp.get("Response") == "Success":
            self._trunk_pace(template).took()
            self.tracker.answered(call, "answered")  # unless Newstate Up said so first
            await self._follow(call)
            return
        # the hangup handler's report (SIP cause, tone) and the Hangup (Q.850 cause) may come after
        await _wait(call.gone, GONE_GRACE_S)
        await self._not_connected(call, int(resp.get("Reason") or 0), template)

    async def _not_connected(self, call: LiveCall, reason: int, template: str | None = None) -> None:
        """End a call that was never answered: its dial result from what the far end said (SIT tone,
        SIP code, OriginateResponse Reason, Q.850 cause: dialer.engine.results)."""
        far = call.far_end(reason)
        result, why = classify(far)
        if template is not None:
            self._carrier_said(template, far)
        call.transition(AttemptState.ENDED, result.value)
        await self._end(call, dial_result=result, reason=_cut(why, call))

    async def _follow(self, call: LiveCall) -> None:
        """Wait for the end of a call Asterisk has (or had: resync sets `lost`)."""
        try:
            await asyncio.wait_for(call.ended.wait(), self.settings.max_call_s)
        except asyncio.TimeoutError:
            await self._hang_up(call, f"no end after {self.settings.max_call_s:g} s")
            await self._end(call, outcome=Outcome.UNKNOWN, reason=f"no end after {self.settings.max_call_s:g} s")
            return
        if call.ivr_done is not None:  # the IVR hands over its outcome and events as it closes
            try:
                await asyncio.wait_for(call.ivr_done.wait(), IVR_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("attempt %s: the IVR session outlived its call by %g s", call.attempt_id, IVR_GRACE_S)
        lost = call.details.pop("lost", False)
        if call.outcome is not None:  # the IVR's word: proof of the answer, over any AMI-derived state
            self.tracker.answered(call, "the IVR reported an outcome", call.events[0].at if call.events else None)
        elif lost:
            await self._end(call, outcome=Outcome.UNKNOWN, reason="ended while AMI was disconnected")
            return
        elif call.state != AttemptState.ANSWERED:
            if not call.responded.is_set():  # Asterisk sends it after the channel's Hangup
                try:
                    await asyncio.wait_for(call.responded.wait(), RESPONSE_GRACE_S)
                except asyncio.TimeoutError:
                    pass
            if call.originate_reason is not None:  # an OriginateResponse failure, seen as an event
                await self._not_connected(call, call.originate_reason)
                return
            await self._end(call, outcome=Outcome.UNKNOWN, reason="ended; whether it was answered is unknown")
            return
        await _wait(call.gone, GONE_GRACE_S)  # the hangup handler's SIP cause comes before the Hangup
        outcome, reason = connected_outcome(call)
        call.transition(AttemptState.ENDED, outcome.value)
        await self._end(call, outcome=outcome, reason=_cut(reason, call))

    async def _hang_up(self, call: LiveCall, why: str) -> bool:
        """Hang the call's channel up through AMI (write class `call`); True if it is gone."""
        call.cut = why
        try:
            await self.ami.action({"Action": "Hangup", "Channel": call.attempt_id, "Cause": str(HANGUP_CAUSE)},
                                  timeout=HANGUP_TIMEOUT_S)  # fmt: skip
        except AmiActionError as exc:  # "No such channel": it ended meanwhile
            log.info("attempt %s: no channel to hang up (%s)", call.attempt_id, exc.message)
            return True
        except AmiError as exc:
            log.warning("attempt %s: could not hang up (%s): %s", call.attempt_id, why, exc)
            return False
        log.info("attempt %s: hung up by the dialer (%s)", call.attempt_id, why)
        return True

    async def _end(self, call: LiveCall, **result: Any) -> None:
        fields: dict[str, Any] = {"cause": call.hangup_cause, "step": call.step, "details": call.details,
                                  "events": call.events, "ended_at": self.repo.clock(), "sip_code": call.sip_code,
                                  **result}  # fmt: skip
        events = fields["events"]  # an IVR that spoke had the call answered, if nothing said when
        fields.setdefault("answered_at", call.answered_at or (events[0].at if events else None))
        ending = Ending(call.attempt_id, **fields)
        try:
            await self.recorder.record(ending)
        except Exception as exc:  # noqa: BLE001 - logged; the sweep or the next start ends the attempt
            log.error("attempt %s: could not record its end: %s", call.attempt_id, exc)
        self.live.ended(ending, call.campaign_id)  # events
        kind = "dial_result" if ending.dial_result is not None else "outcome"
        metrics.ENDINGS.labels(self._names.get(call.campaign_id, str(call.campaign_id)), kind, ending.what).inc()


def _cut(reason: str, call: LiveCall) -> str:
    return f"{reason}; the dialer hung up: {call.cut}" if call.cut else reason


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; whether it came."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True
