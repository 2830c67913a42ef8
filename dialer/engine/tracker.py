"""Call tracking: AMI events routed to live attempts, and what a connected call's end means.

The dial results of calls that never connected come from dialer.engine.results (the one table:
SIT, SIP response, Reason, Q.850 cause); here, what the dialplan and the IVR reported becomes a
connected outcome. No I/O here: the engine feeds events in and records what comes out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dialer.domain import AttemptState, Outcome
from dialer.engine.results import FarEnd, parse_sip_cause
from dialer.ivr.dialplan import decode_details

log = logging.getLogger(__name__)

@dataclass
class LiveCall:
    """What the engine knows about one attempt while Asterisk has it."""

    attempt_id: str
    campaign_id: int
    contact_id: int
    state: AttemptState = AttemptState.ORIGINATING
    answered_at: datetime | None = None
    originate_reason: int | None = None  # an OriginateResponse failure seen as an event
    responded: asyncio.Event = field(default_factory=asyncio.Event)  # an OriginateResponse was seen
    amd_status: str | None = None
    amd_cause: str | None = None
    hangup_cause: int | None = None
    sip_code: int | None = None  # the last SIP response (PJSIP's own cause), from the hangup handler
    sip_text: str | None = None  # e.g. "SIP 486 Busy Here"
    sit: bool = False  # special information tone in early media
    step: str | None = None
    outcome: Outcome | None = None  # set by the IVR when it decides one
    details: dict[str, Any] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # Asterisk's Hangup: no more reports come
    ivr_done: asyncio.Event | None = None  # set while an in-process IVR session runs the call
    ivr_report: Any = None  # that session's report so far (dialer.ivr.call.CallReport)
    events: tuple[Any, ...] = ()  # the IVR's step/key/fact rows, recorded with the ending
    # the AGI gate (dialer.ivr.trust): the token until the Originate carries it, its hash, one session
    agi_token: str | None = field(default=None, repr=False)
    agi_token_hash: str | None = field(default=None, repr=False)
    agi_admitted: bool = False
    cut: str | None = None  # why the dialer hung the call up itself, if it did
    born_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # tracked (claimed) at
    ivr_context: Any = None  # the IVR session's CallContext (contact, fields): the agent's screen-pop

    def far_end(self, reason: int) -> FarEnd:
        return FarEnd(reason, self.hangup_cause, self.sip_code, self.sip_text, self.sit)

    def transition(self, new: AttemptState, why: str) -> None:
        log.info("attempt %s: %s -> %s (%s)", self.attempt_id, self.state.value, new.value, why)
        self.state = new


def connected_outcome(call: LiveCall) -> tuple[Outcome, str]:
    """The outcome of an answered call, with its reason."""
    if call.outcome == Outcome.IVR_ERROR:
        return call.outcome, f"IVR error: {call.details.get('error') or 'unknown'}"
    if call.outcome is not None:
        return call.outcome, "reported by the IVR"
    if call.amd_status == "MACHINE":
        call.details.setdefault("message_left", False)
        return Outcome.MACHINE, f"AMD {call.amd_cause or 'MACHINE'}"
    step = call.step or ("amd" if call.amd_status is None else "ivr")
    call.step = step
    return Outcome.HUNG_UP_EARLY, f"call ended (cause {call.hangup_cause}) before the flow completed"


def interrupted(call: LiveCall) -> tuple[Outcome, str | None, dict[str, Any], tuple[Any, ...]]:
    """What the IVR knew of a call cut short (outcome, step, details, events): its outcome if it
    had decided one, else hung up early at its step; unknown if no IVR session had the call."""
    report = call.ivr_report
    if call.outcome is not None or report is None:
        return call.outcome or Outcome.UNKNOWN, call.step, call.details, call.events
    outcome = report.outcome or Outcome.HUNG_UP_EARLY
    step = report.step if outcome == Outcome.HUNG_UP_EARLY else None
    return outcome, step, {**call.details, **report.details}, tuple(report.events)


class CallTracker:
    """Routes AMI events to live calls by attempt id (= ChannelId = Uniqueid)."""

    def __init__(self) -> None:
        self.calls: dict[str, LiveCall] = {}
        self.on_amd: Callable[[LiveCall], None] = lambda call: None  # live events (dialer.events)
        self.on_answer: Callable[[LiveCall], None] = lambda call: None  # the engine records the answer
        self.on_return_call: Callable[[Any], None] = lambda event: None  # dialer-inbound announced a call

    def track(self, call: LiveCall) -> LiveCall:
        self.calls[call.attempt_id] = call
        return call

    def forget(self, attempt_id: str) -> None:
        self.calls.pop(attempt_id, None)

    def answered(self, call: LiveCall, why: str, at: datetime | None = None) -> None:
        """The call was answered (Newstate Up, OriginateResponse, resync, the IVR's word); once."""
        if call.state != AttemptState.ORIGINATING:
            return
        call.transition(AttemptState.ANSWERED, why)
        call.answered_at = at or datetime.now(UTC)
        self.on_answer(call)

    def feed(self, event: Any) -> None:
        name = event.get("Event")
        if name == "UserEvent" and event.get("UserEvent") == "DialerInbound":
            self.on_return_call(event)  # a return call waits for its token (dialer.ivr.return_calls)
            return
        if name == "UserEvent":
            call = self.calls.get(str(event.get("Attempt") or ""))
            if call is None:
                return
            kind = event.get("UserEvent")
            if kind == "DialerAMD":
                call.amd_status, call.amd_cause = event.get("Status") or None, event.get("Cause") or None
                log.info("attempt %s: AMD %s (%s)", call.attempt_id, call.amd_status, call.amd_cause)
                self.on_amd(call)
            elif kind == "DialerEnd":
                self._ivr_report(call, event)
                self._ended(call, event.get("Cause"))
            elif kind == "DialerHangup":  # the dialled channel's hangup handler: SIP's own cause
                call.sip_code, call.sip_text = parse_sip_cause(event.get("Tech"))
            elif kind == "DialerSit":
                call.sit = True
                log.info("attempt %s: special information tone in early media", call.attempt_id)
            return
        call = self.calls.get(str(event.get("Uniqueid") or ""))
        if call is None:
            return
        if name == "Hangup":
            self._ended(call, event.get("Cause"))
            call.gone.set()
        elif name == "Newstate" and event.get("ChannelStateDesc") == "Up":
            self.answered(call, "Newstate Up")
        elif name == "Newstate" and event.get("ChannelStateDesc") == "Ringing":
            log.debug("attempt %s: ringing", call.attempt_id)
        elif name == "OriginateResponse":  # also one sent before a reconnect, for a call followed since
            call.responded.set()
            if event.get("Response") == "Success":
                self.answered(call, "OriginateResponse Success")
            elif call.originate_reason is None:
                try:
                    call.originate_reason = int(event.get("Reason") or 0)
                except ValueError:
                    call.originate_reason = 0

    @staticmethod
    def _ivr_report(call: LiveCall, event: Any) -> None:
        """An outcome a process AGI script handed over in channel variables (DialerEnd)."""
        if call.outcome is not None or not event.get("Outcome"):
            return
        try:
            call.outcome = Outcome(event.get("Outcome"))
        except ValueError:
            log.warning("attempt %s: unknown IVR outcome %r", call.attempt_id, event.get("Outcome"))
            return
        call.step = event.get("Step") or call.step
        call.details.update(decode_details(event.get("Details")))

    @staticmethod
    def _ended(call: LiveCall, cause: Any) -> None:
        if call.hangup_cause is None or call.hangup_cause == 0:
            try:
                call.hangup_cause = int(cause)
            except (TypeError, ValueError):
                call.hangup_cause = None
        call.ended.set()
