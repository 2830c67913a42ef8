"""Endings: how attempts ended, written once each, and every contact's next step (retry rules,
dispositions, opt-outs to the DNC list, the schedule's caps and rounds)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.domain import AttemptState, DialResult, Disposition, Outcome
from dialer.storage import guards
from dialer.storage.ending_hooks import EndingHook, run_hooks
from dialer.storage.ivr_store import add_events
from dialer.storage.models import Attempt, Campaign, Contact, Dnc
from dialer.storage.rotation import NO_NUMBER_LEFT, numbers_left
from dialer.storage.scheduling import after_ending, histories, hold_for, schedule_for
from dialer.storage.strategies import after_attempt, strategy_for
from scheduler.caps import Past
from scheduler.windows import ScheduleError

log = logging.getLogger(__name__)

# Retry rules: campaign.settings["retries"] may override any of these.
DEFAULT_RETRIES: dict[str, Any] = {
    # also "max_per_result": {"busy": 2, ...}: attempts with that result before giving up
    "max_attempts": 3,  # per contact, all phones together
    "delay_s": {
        "busy": 300,
        "no_answer": 1800,
        "congestion": 120,
        "failed": 600,
        "invalid_number": 3600,
        "ivr_error": 1800,  # the flow broke (audio missing, AGI lost): the person is called again
        "unknown": 600,
    },
}


# ivr_error and unknown are not here: the retry rules call those contacts again
REACHED = {Outcome.ANSWERED, Outcome.TRANSFERRED, Outcome.MACHINE, Outcome.HUNG_UP_EARLY, Outcome.IDENTITY_FAILED}


@dataclass(frozen=True)
class Ending:
    """How one attempt ended: a dial result (never connected) or an outcome (connected)."""

    attempt_id: str
    reason: str
    dial_result: DialResult | None = None
    outcome: Outcome | None = None
    cause: int | None = None
    step: str | None = None
    details: dict[str, Any] | None = None
    events: tuple[Any, ...] = ()  # the IVR's step/key/fact rows (ivr_store.EventRow), stored with the ending
    ended_at: datetime | None = None  # when the call ended (a replayed ending is written later); None: now
    answered_at: datetime | None = None  # kept when SQL has no answer time yet
    sip_code: int | None = None  # the carrier's last SIP response (PJSIP trunks)

    @property
    def what(self) -> str:
        return (self.dial_result or self.outcome or Outcome.UNKNOWN).value


def retry_rules(campaign: Campaign) -> dict[str, Any]:
    custom = dict(campaign.settings.get("retries", {}))
    return {
        "max_attempts": int(custom.get("max_attempts", DEFAULT_RETRIES["max_attempts"])),
        "delay_s": {**DEFAULT_RETRIES["delay_s"], **custom.get("delay_s", {})},
        "max_per_result": {k: int(v) for k, v in custom.get("max_per_result", {}).items()},
    }


def add_opt_out(s: Session, attempt: Attempt, now: datetime) -> None:
    """The attempt's number on the DNC list (an opt-out heard by the IVR), once."""
    if s.get(Dnc, attempt.number) is None:
        s.add(Dnc(number=attempt.number, source="ivr-opt-out", reason=f"attempt {attempt.id}", added_at=now))


class Endings:
    """Part of Repository: recording answers and endings."""

    sessions: sessionmaker[Session]
    node: str
    clock: Callable[[], datetime]
    ending_hooks: tuple[EndingHook, ...] = ()  # storage.ending_hooks: e.g. texts after the ending

    def mark_answered(self, attempt_id: str, at: datetime | None = None) -> None:
        """An originating attempt was answered (one guarded UPDATE: an ended attempt stays ended)."""
        with self.sessions.begin() as s:
            s.execute(
                update(Attempt)
                .where(Attempt.id == attempt_id, Attempt.state == AttemptState.ORIGINATING)
                .values(state=AttemptState.ANSWERED, answered_at=at or self.clock())
                .execution_options(synchronize_session=False)
            )

    def finish(self, attempt_id: str, **result: Any) -> None:
        """End one attempt; see finish_many."""
        self.finish_many([Ending(attempt_id, **result)])

    def finish_many(self, endings: list[Ending]) -> None:
        """End attempts (each once) in one transaction and decide every contact's next step.

        Idempotent: an attempt already ended (or gone) is skipped, so a journal may replay it."""
        now = self.clock()
        with self.sessions.begin() as s:
            ids = [e.attempt_id for e in endings]
            attempts = {a.id: a for a in s.scalars(select(Attempt).where(Attempt.id.in_(ids)))}
            contact_ids = {a.contact_id for a in attempts.values()}
            contacts = {
                c.id: c
                for c in s.scalars(
                    select(Contact).where(Contact.id.in_(contact_ids)).options(selectinload(Contact.phones))
                )
            }
            campaigns: dict[int, Campaign] = {}
            ended: list[tuple[Ending, Attempt]] = []
            corrected: set[str] = set()  # ended `unknown` by a node that took this one for dead
            for e in endings:
                attempt = attempts.get(e.attempt_id)
                if attempt is None or (attempt.state == AttemptState.ENDED and not self._true_ending(attempt, e)):
                    continue
                if attempt.state == AttemptState.ENDED:
                    corrected.add(attempt.id)
                attempt.state = AttemptState.ENDED
                attempt.ended_at = e.ended_at or now
                attempt.answered_at = attempt.answered_at or e.answered_at
                attempt.dial_result, attempt.outcome = e.dial_result, e.outcome
                attempt.reason, attempt.q850_cause, attempt.step_reached = e.reason, e.cause, e.step
                attempt.sip_code = e.sip_code
                attempt.details = {**attempt.details, **(e.details or {})}
                add_events(s, attempt.id, e.events)
                campaign = campaigns.get(attempt.campaign_id) or s.get(Campaign, attempt.campaign_id)
                assert campaign is not None
                campaigns[campaign.id] = campaign
                ended.append((e, attempt))
            guards.release(s, [a.id for _, a in ended])  # the person may be called again (another campaign too)
            past = histories(s, {a.contact_id for _, a in ended}) if any(
                self._caps_in(c) for c in campaigns.values()) else {}  # fmt: skip
            for e, attempt in ended:
                contact, campaign = contacts[attempt.contact_id], campaigns[attempt.campaign_id]
                if contact.live_attempt_id == attempt.id:
                    contact.live_attempt_id = None
                if attempt.id in corrected:
                    self._correct(s, campaign, contact, attempt, now)
                else:
                    self._next_step(s, campaign, contact, attempt, now, past.get(contact.id, []))
                run_hooks(s, self.ending_hooks, campaign, contact, attempt, now)
                log.info("attempt %s ended: %s (%s); contact %s %s", attempt.id, e.what, e.reason, contact.id,
                         contact.disposition.value)  # fmt: skip
            recorded = self.clock()  # at the end of the transaction: the results API's cursor follows it
            for _e, attempt in ended:
                attempt.recorded_at = recorded

    def _true_ending(self, attempt: Attempt, e: Ending) -> bool:
        """This node's own ending of an attempt another node ended `unknown`, taking this one for dead
        (storage.nodes): what really happened, recorded over the guess."""
        return (attempt.outcome == Outcome.UNKNOWN and bool(attempt.details.get("resolved_by"))
                and attempt.node == self.node and e.outcome != Outcome.UNKNOWN)  # fmt: skip

    @classmethod
    def _correct(cls, s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime) -> None:
        """After a true ending replaced `unknown`: an opt-out reaches the DNC list, a reached contact is
        settled unless it is already on a new call (whose ending decides then)."""
        log.warning("attempt %s: its true ending (%s) replaces the unknown another node recorded",
                    attempt.id, attempt.outcome or attempt.dial_result)  # fmt: skip
        if attempt.outcome == Outcome.OPTED_OUT:
            cls._opted_out(s, contact, attempt, now)
        elif (attempt.outcome in REACHED and contact.live_attempt_id is None
              and contact.disposition in (Disposition.PENDING, Disposition.EXHAUSTED)):  # fmt: skip
            contact.disposition = Disposition.REACHED

    @staticmethod
    def _caps_in(campaign: Campaign) -> bool:
        try:
            schedule = schedule_for(campaign)
        except ScheduleError:
            return False
        return schedule is not None and schedule.caps.any

    @classmethod
    def _next_step(cls, s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime,
                   history: list[Past]) -> None:  # fmt: skip
        if contact.disposition == Disposition.PAID:
            return  # paid during the call (dialer payments import): nothing more to decide
        cls._retry_rules(s, campaign, contact, attempt, now)
        try:
            schedule = schedule_for(campaign)
        except ScheduleError as exc:  # the ending is recorded all the same; claims refuse to dial
            log.error("%s", exc)
            return
        if schedule is not None and attempt.outcome != Outcome.OPTED_OUT:
            after_ending(schedule, contact, attempt, now, history, hold_for(campaign, schedule))

    @staticmethod
    def _opted_out(s: Session, contact: Contact, attempt: Attempt, now: datetime) -> None:
        """The number goes on the DNC list; the contact is suppressed (a paid one stays paid)."""
        if contact.disposition != Disposition.PAID:
            contact.disposition = Disposition.SUPPRESSED
        add_opt_out(s, attempt, now)

    @staticmethod
    def _retry_rules(s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime) -> None:
        if attempt.outcome == Outcome.OPTED_OUT:
            Endings._opted_out(s, contact, attempt, now)
            return
        callback_s = attempt.details.get("callback_after_s")
        if (attempt.outcome == Outcome.TRANSFERRED and not attempt.details.get("agent_answered") and callback_s
                and contact.attempts < retry_rules(campaign)["max_attempts"]):
            contact.next_attempt_at = now + timedelta(seconds=float(callback_s))  # no agent: call back
            return
        strategy = strategy_for(campaign)
        if strategy is not None and after_attempt(contact, attempt, strategy, now):
            if contact.step_attempts:  # the same step again: after the result's retry delay
                key = (attempt.dial_result or attempt.outcome or Outcome.UNKNOWN).value
                contact.next_attempt_at = now + timedelta(seconds=float(retry_rules(campaign)["delay_s"].get(key, 600)))
            return
        if attempt.outcome in REACHED:
            contact.disposition = Disposition.REACHED
            return
        if attempt.dial_result == DialResult.INVALID_NUMBER and not numbers_left(s, contact):
            contact.disposition = Disposition.EXHAUSTED  # the number is out of rotation (storage.rotation)
            attempt.reason = f"{attempt.reason}; {NO_NUMBER_LEFT}"
            return
        rules = retry_rules(campaign)
        if contact.attempts >= rules["max_attempts"]:
            contact.disposition = Disposition.EXHAUSTED
            return
        key = (attempt.dial_result or attempt.outcome or Outcome.UNKNOWN).value
        limit = rules["max_per_result"].get(key)
        if limit is not None:
            same = (Attempt.dial_result == attempt.dial_result) if attempt.dial_result else (
                Attempt.outcome == attempt.outcome)  # fmt: skip
            count = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.contact_id == contact.id, same))
            if (count or 0) >= limit:
                contact.disposition = Disposition.EXHAUSTED
                return
        phones = len(contact.phones)
        contact.next_phone = (contact.next_phone + 1) % max(phones, 1)
        if contact.next_phone != 0 and attempt.outcome is None:
            contact.next_attempt_at = now  # no contact on this number: try the next one now
        else:
            contact.next_attempt_at = now + timedelta(seconds=float(rules["delay_s"].get(key, 600)))

