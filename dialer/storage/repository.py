"""The engine's SQL work: claim the next contact, record how an attempt ended, resync.

Every method is one short transaction. Claiming sets contact.live_attempt_id with a guarded
UPDATE, so a contact is never on two live calls, even with several dialer hosts on PostgreSQL.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Select, Table, case, func, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.domain import AttemptState, CampaignState, DialResult, Disposition, Outcome
from dialer.storage.ivr_store import add_events
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone
from dialer.storage.scheduling import Gate, after_ending, histories, missing_dnc_lists, schedule_for
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
        "unknown": 600,
    },
}
SCREEN = 200  # contacts a scheduled campaign's claim looks at, at least, per round
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

    @property
    def what(self) -> str:
        return (self.dial_result or self.outcome or Outcome.UNKNOWN).value


@dataclass(frozen=True)
class LiveAttempt:
    id: str
    campaign_id: int
    contact_id: int
    created_at: datetime
    trunk_template: str
    max_concurrent: int


@dataclass(frozen=True)
class Plan:
    """One attempt about to be originated (its row is committed)."""

    attempt_id: str
    campaign_id: int
    contact_id: int
    number: str
    external_id: str | None = None  # the contact's id in the customer's systems (live events)


def now_utc() -> datetime:
    return datetime.now(UTC)


def retry_rules(campaign: Campaign) -> dict[str, Any]:
    custom = dict(campaign.settings.get("retries", {}))
    return {
        "max_attempts": int(custom.get("max_attempts", DEFAULT_RETRIES["max_attempts"])),
        "delay_s": {**DEFAULT_RETRIES["delay_s"], **custom.get("delay_s", {})},
        "max_per_result": {k: int(v) for k, v in custom.get("max_per_result", {}).items()},
    }


def due_queries(campaign_id: int, now: datetime, limit: int) -> list[Select[Any]]:
    """The next due contacts, in due order: never tried first, then by next_attempt_at. Two index
    range scans on (campaign_id, disposition, next_attempt_at): with an OR, SQLite would walk
    every parked contact of the campaign before finding that none is due."""
    base = (
        select(Contact)
        .where(Contact.campaign_id == campaign_id, Contact.disposition == Disposition.PENDING,
               Contact.live_attempt_id.is_(None))  # fmt: skip
        .limit(limit)
        .options(selectinload(Contact.phones))
    )
    return [
        base.where(Contact.next_attempt_at.is_(None)).order_by(Contact.id),
        base.where(Contact.next_attempt_at <= now).order_by(Contact.next_attempt_at, Contact.id),
    ]


def due_contacts(s: Session, campaign_id: int, now: datetime, limit: int) -> list[Contact]:
    found: list[Contact] = []
    for query in due_queries(campaign_id, now, limit):
        if len(found) < limit:
            found.extend(s.scalars(query.limit(limit - len(found))))
    return found


def _pick_phone(contact: Contact, blocked: set[str]) -> Phone | None:
    """The contact's next phone in order, skipping DNC numbers (checked at dial time)."""
    phones = list(contact.phones)
    for offset in range(len(phones)):
        phone = phones[(contact.next_phone + offset) % len(phones)]
        if phone.number not in blocked:
            return phone
    return None


class Repository:
    """`node` names this dialer host: its attempts carry it and its resync sees only them."""

    def __init__(self, sessions: sessionmaker[Session], node: str = "", clock: Callable[[], datetime] = now_utc) -> None:
        self.sessions = sessions
        self.node = node
        self.clock = clock  # tests inject one; the claim's `now` argument wins over it

    # -- campaigns --------------------------------------------------------------------
    def active_campaigns(self) -> list[Campaign]:
        with self.sessions() as s:
            return list(s.scalars(select(Campaign).where(Campaign.state == CampaignState.ACTIVE)))

    def campaign(self, campaign_id: int) -> Campaign | None:
        with self.sessions() as s:
            return s.get(Campaign, campaign_id)

    def pause_campaign(self, campaign_id: int, reason: str) -> None:
        """Pause an active campaign and say why (shown by `dialer campaign show`)."""
        with self.sessions.begin() as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is not None and campaign.state == CampaignState.ACTIVE:
                campaign.state = CampaignState.PAUSED
                campaign.settings = {**campaign.settings, "paused_reason": reason}

    def finish_campaign_if_settled(self, campaign_id: int) -> bool:
        """Mark the campaign finished when no contact is pending; True if it is finished."""
        with self.sessions.begin() as s:
            pending = s.scalar(
                select(func.count()).select_from(Contact).where(
                    Contact.campaign_id == campaign_id,
                    or_(Contact.disposition == Disposition.PENDING, Contact.live_attempt_id.is_not(None)),
                )
            )
            if pending:
                return False
            campaign = s.get(Campaign, campaign_id)
            if campaign is not None and campaign.state == CampaignState.ACTIVE:
                campaign.state = CampaignState.FINISHED
                campaign.finished_at = now_utc()
                log.info("campaign %s finished: every contact is settled", campaign.name)
            return True

    def progress(self, campaign_id: int) -> dict[str, Any]:
        """Ended attempts per dial result or outcome, and contacts still pending (live events)."""
        ended = (
            select(Attempt.dial_result, Attempt.outcome, func.count())
            .where(Attempt.campaign_id == campaign_id, Attempt.state == AttemptState.ENDED)
            .group_by(Attempt.dial_result, Attempt.outcome)
        )
        pending = select(func.count()).select_from(Contact).where(
            Contact.campaign_id == campaign_id, Contact.disposition == Disposition.PENDING
        )
        counts: dict[str, int] = {}
        with self.sessions() as s:
            for result, outcome, n in s.execute(ended):
                key = (result or outcome or Outcome.UNKNOWN).value
                counts[key] = counts.get(key, 0) + n
            return {"counts": counts, "pending_contacts": s.scalar(pending) or 0}

    # -- claiming ---------------------------------------------------------------------
    def claim_next(self, campaign_id: int, now: datetime | None = None) -> Plan | None:
        """Commit an attempt for the next due contact and phone, or None if nothing is due."""
        plans = self.claim(campaign_id, 1, now)
        return plans[0] if plans else None

    def claim(self, campaign_id: int, limit: int, now: datetime | None = None) -> list[Plan]:
        """Commit attempts for up to `limit` due contacts (one transaction), in due order."""
        now = now or self.clock()
        plans: list[Plan] = []
        with self.sessions.begin() as s:
            campaign = s.get(Campaign, campaign_id)
            schedule = schedule_for(campaign) if campaign is not None else None
            if schedule is not None and (missing := missing_dnc_lists(s, schedule)):
                log.warning("campaign %s: policy %s needs the DNC list %s loaded (dialer dnc import FILE "
                            "--source %s): not dialling", campaign_id, schedule.policy.name, missing[0], missing[0])
                return []
            for _ in range(5):  # contacts skipped (DNC, taken by another host) leave room: look again
                want = limit - len(plans)
                if want <= 0:
                    break
                # with a schedule, screen at least SCREEN contacts: blocked ones are parked in bulk,
                # so contacts in other zones behind a closed zone's crowd are reached soon
                contacts = due_contacts(s, campaign_id, now, max(want, SCREEN) if schedule else want)
                if not contacts:
                    break
                numbers = [p.number for c in contacts for p in c.phones]
                blocked = set(s.scalars(select(Dnc.number).where(Dnc.number.in_(numbers)))) if numbers else set()
                gate = Gate(s, schedule, contacts, now) if schedule is not None else None
                picks: list[tuple[Contact, Phone]] = []
                for contact in contacts:
                    if len(picks) == want:
                        break  # the rest stay due for the next claim
                    phone = _pick_phone(contact, blocked)
                    if phone is None:
                        contact.disposition = Disposition.SUPPRESSED
                        log.info("contact %s suppressed: no phone, or every number is on the DNC list", contact.id)
                        continue
                    if gate is not None and not gate.allows(contact, phone.number):
                        continue  # not due (window, cap, round): its next_attempt_at moved on
                    picks.append((contact, phone))
                plans.extend(self._claim_batch(s, campaign_id, picks, now))
        return plans

    def unclaim(self, plans: list[Plan]) -> None:
        """Undo claims whose Originate was never sent (the daemon paused or stopped first)."""
        if not plans:
            return
        with self.sessions.begin() as s:
            for plan in plans:
                s.execute(
                    update(Contact)
                    .where(Contact.id == plan.contact_id, Contact.live_attempt_id == plan.attempt_id)
                    .values(live_attempt_id=None, attempts=Contact.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
                attempt = s.get(Attempt, plan.attempt_id)
                if attempt is not None and attempt.state == AttemptState.ORIGINATING:
                    s.delete(attempt)

    def _claim_batch(self, s: Session, campaign_id: int, picks: list[tuple[Contact, Phone]], now: datetime) -> list[Plan]:
        """One guarded UPDATE for the batch (a contact another host took first is left out), then
        one INSERT of the attempts."""
        if not picks:
            return []
        ids = {contact.id: str(uuid.uuid4()) for contact, _ in picks}
        contact_table = cast(Table, Contact.__table__)
        table = contact_table.c
        won = set(s.connection().execute(
            update(contact_table)
            .where(table.id.in_(list(ids)), table.live_attempt_id.is_(None))
            .values(live_attempt_id=case(ids, value=table.id), attempts=table.attempts + 1)
            .returning(table.id)
        ).scalars())  # fmt: skip
        attempts = [
            Attempt(id=ids[contact.id], campaign_id=campaign_id, contact_id=contact.id, phone_id=phone.id,
                    number=phone.number, node=self.node, state=AttemptState.ORIGINATING, created_at=now,
                    originated_at=now, details={})  # fmt: skip
            for contact, phone in picks
            if contact.id in won
        ]
        s.add_all(attempts)
        external = {contact.id: contact.external_id for contact, _ in picks}
        return [Plan(a.id, campaign_id, a.contact_id, a.number, external[a.contact_id]) for a in attempts]

    # -- recording --------------------------------------------------------------------
    def mark_answered(self, attempt_id: str) -> None:
        with self.sessions.begin() as s:
            attempt = s.get(Attempt, attempt_id)
            if attempt is not None and attempt.state != AttemptState.ENDED:
                attempt.state = AttemptState.ANSWERED
                attempt.answered_at = self.clock()

    def finish(self, attempt_id: str, **result: Any) -> None:
        """End one attempt; see finish_many."""
        self.finish_many([Ending(attempt_id, **result)])

    def finish_many(self, endings: list[Ending]) -> None:
        """End attempts (each once) in one transaction and decide every contact's next step."""
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
            for e in endings:
                attempt = attempts.get(e.attempt_id)
                if attempt is None or attempt.state == AttemptState.ENDED:
                    continue
                attempt.state = AttemptState.ENDED
                attempt.ended_at = now
                attempt.dial_result, attempt.outcome = e.dial_result, e.outcome
                attempt.reason, attempt.q850_cause, attempt.step_reached = e.reason, e.cause, e.step
                attempt.details = {**attempt.details, **(e.details or {})}
                add_events(s, attempt.id, e.events)
                campaign = campaigns.get(attempt.campaign_id) or s.get(Campaign, attempt.campaign_id)
                assert campaign is not None
                campaigns[campaign.id] = campaign
                ended.append((e, attempt))
            past = histories(s, {a.contact_id for _, a in ended}) if any(
                self._caps_in(c) for c in campaigns.values()) else {}  # fmt: skip
            for e, attempt in ended:
                contact, campaign = contacts[attempt.contact_id], campaigns[attempt.campaign_id]
                if contact.live_attempt_id == attempt.id:
                    contact.live_attempt_id = None
                self._next_step(s, campaign, contact, attempt, now, past.get(contact.id, []))
                log.info("attempt %s ended: %s (%s); contact %s %s", attempt.id, e.what, e.reason, contact.id,
                         contact.disposition.value)  # fmt: skip

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
        cls._retry_rules(s, campaign, contact, attempt, now)
        try:
            schedule = schedule_for(campaign)
        except ScheduleError as exc:  # the ending is recorded all the same; claims refuse to dial
            log.error("%s", exc)
            return
        if schedule is not None and attempt.outcome != Outcome.OPTED_OUT:
            after_ending(schedule, contact, attempt, now, history)

    @staticmethod
    def _retry_rules(s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime) -> None:
        if attempt.outcome == Outcome.OPTED_OUT:
            contact.disposition = Disposition.SUPPRESSED
            if s.get(Dnc, attempt.number) is None:
                s.add(Dnc(number=attempt.number, source="ivr-opt-out", reason=f"attempt {attempt.id}", added_at=now))
            return
        callback_s = attempt.details.get("callback_after_s")
        if (attempt.outcome == Outcome.TRANSFERRED and not attempt.details.get("agent_answered") and callback_s
                and contact.attempts < retry_rules(campaign)["max_attempts"]):
            contact.next_attempt_at = now + timedelta(seconds=float(callback_s))  # no agent: call back
            return
        if attempt.outcome in REACHED:
            contact.disposition = Disposition.REACHED
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

    # -- resync -----------------------------------------------------------------------
    def live_attempts(self) -> list[LiveAttempt]:
        """This node's attempts SQL still has as live (originating or answered), with their caps."""
        query = (
            select(Attempt.id, Attempt.campaign_id, Attempt.contact_id, Attempt.created_at,
                   Campaign.trunk_template, Campaign.max_concurrent)  # fmt: skip
            .join(Campaign, Campaign.id == Attempt.campaign_id)
            .where(
                Attempt.node == self.node,
                Attempt.state.in_([AttemptState.ORIGINATING, AttemptState.ANSWERED]),
            )
        )
        with self.sessions() as s:
            return [LiveAttempt(*row) for row in s.execute(query)]

    def attempt(self, attempt_id: str) -> Attempt | None:
        with self.sessions() as s:
            return s.get(Attempt, attempt_id)
