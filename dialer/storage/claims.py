"""Claims: the next due contacts of a campaign, each with an attempt row committed before its
Originate. One guarded UPDATE sets contact.live_attempt_id, so a contact is never on two live
calls, even with several dialer hosts on PostgreSQL; the guard also checks the attempt count read
by the SELECT, so a contact another host claimed and ended in between is not dialled again at
once. The campaign's and trunk's limits (storage.limits) and one live call per person across
campaigns (storage.guards) are decided in the same transaction.

Every claim carries a token, written on its attempt rows, which start `created` (not sent).
The engine confirms a claim (`originating`) before it sends its Originates. A claim whose caller
gave up (SQL too slow, the daemon stopping) may still commit later: the engine undoes it by its
token, and on start the daemon undoes every claim of its node that was never confirmed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, case, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.domain import AttemptState, Disposition
from dialer.storage import guards
from dialer.storage.limits import room, template_of, trunk_of
from dialer.storage.models import Attempt, Campaign, Contact, Phone
from dialer.storage.rotation import NO_NUMBER_LEFT, invalid_numbers
from dialer.storage.scheduling import Gate, hold_for, missing_dnc_lists, schedule_for
from dialer.storage.strategies import begin, strategy_for
from dialer.storage.sms_store import notice_settings, sms_only

log = logging.getLogger(__name__)

GUARD_RETRY_S = 30  # a contact whose number is on a live call elsewhere is looked at again then
SCREEN = 200  # contacts a scheduled campaign's claim looks at, at least, per round
PARK_S = 300  # a contact whose audio is missing is looked at again this much later
NOT_SENT = (AttemptState.CREATED, AttemptState.ORIGINATING)
# why a contact may not be called now, beyond the schedule (its audio is not rendered), or None
Screen = Callable[[Contact], str | None]


@dataclass(frozen=True)
class Plan:
    """One attempt about to be originated (its row is committed)."""

    attempt_id: str
    campaign_id: int
    contact_id: int
    number: str
    external_id: str | None = None  # the contact's id in the customer's systems (live events)
    dial_by: datetime | None = None  # the calling window stays open for the ring time and margin until then
    template: str = ""  # the channel template (its trunk's); empty: the campaign's trunk_template


class Claimed(list[Plan]):
    """The attempts a claim committed; `why` names the limit that left no room (empty when the
    claim found nothing due), so the caller need not ask whether the campaign is finished."""

    def __init__(self, plans: Iterable[Plan] = (), why: str = "") -> None:
        super().__init__(plans)
        self.why = why


def due_queries(campaign_id: int, now: datetime, limit: int, fresh: bool = True) -> list[Select[Any]]:
    """The next due contacts, in due order: never tried first, then by next_attempt_at. Two index
    range scans on (campaign_id, disposition, next_attempt_at): with an OR, SQLite would walk
    every parked contact of the campaign before finding that none is due. `fresh` False leaves
    out contacts never given a time (a campaign whose SMS notice sets the first call's time)."""
    base = (
        select(Contact)
        .where(Contact.campaign_id == campaign_id, Contact.disposition == Disposition.PENDING,
               Contact.live_attempt_id.is_(None))  # fmt: skip
        .limit(limit)
        .options(selectinload(Contact.phones))
    )
    return [
        *([base.where(Contact.next_attempt_at.is_(None)).order_by(Contact.id)] if fresh else []),
        base.where(Contact.next_attempt_at <= now).order_by(Contact.next_attempt_at, Contact.id),
    ]


def due_contacts(s: Session, campaign_id: int, now: datetime, limit: int, fresh: bool = True) -> list[Contact]:
    found: list[Contact] = []
    for query in due_queries(campaign_id, now, limit, fresh):
        if len(found) < limit:
            found.extend(s.scalars(query.limit(limit - len(found))))
    return found


def pick_phone(contact: Contact, blocked: set[str]) -> Phone | None:
    """The contact's next phone in order, skipping DNC numbers (checked at dial time)."""
    phones = list(contact.phones)
    for offset in range(len(phones)):
        phone = phones[(contact.next_phone + offset) % len(phones)]
        if phone.number not in blocked:
            return phone
    return None


class Claims:
    """Part of Repository: claiming and unclaiming."""

    sessions: sessionmaker[Session]
    node: str
    clock: Callable[[], datetime]

    def claim_next(self, campaign_id: int, now: datetime | None = None) -> Plan | None:
        """Commit an attempt for the next due contact and phone, or None if nothing is due."""
        plans = self.claim(campaign_id, 1, now)
        return plans[0] if plans else None

    def claim(self, campaign_id: int, limit: int, now: datetime | None = None, *, token: str | None = None,
              screen: Screen | None = None) -> Claimed:  # fmt: skip
        """Commit attempts for up to `limit` due contacts (one transaction), in due order, all
        carrying `token` (state `created`), within the limits every host shares (storage.limits)
        and one live call per person (storage.guards). `screen` may park a due contact, with its
        reason."""
        now = now or self.clock()
        token = token or str(uuid.uuid4())
        plans: list[Plan] = []
        parked: list[str] = []  # why each parked contact may not be called
        with self.sessions.begin() as s:
            campaign, space = room(s, campaign_id, now, limit, self.node)
            if campaign is None or space.calls <= 0 or sms_only(campaign):  # texts only: dialer.sms.producers
                return Claimed(why=space.why)
            limit = space.calls
            schedule = schedule_for(campaign)
            template = template_of(s, campaign)
            if schedule is not None and (missing := missing_dnc_lists(s, schedule)):
                log.warning("campaign %s: policy %s needs the DNC list %s loaded (dialer dnc import FILE "
                            "--source %s): not dialling", campaign_id, schedule.policy.name, missing[0], missing[0])
                return Claimed(why=f"DNC list {missing[0]} not loaded")
            for _ in range(5):  # contacts skipped (DNC, taken by another host) leave room: look again
                want = limit - len(plans)
                if want <= 0:
                    break
                # with a schedule, screen at least SCREEN contacts: blocked ones are parked in bulk,
                # so contacts in other zones behind a closed zone's crowd are reached soon
                contacts = due_contacts(s, campaign_id, now, max(want, SCREEN) if schedule else want,
                                        "before_call_s" not in notice_settings(campaign))  # fmt: skip
                if not contacts:
                    break
                numbers = [p.number for c in contacts for p in c.phones]
                blocked = guards.listed(s, numbers)
                invalid = invalid_numbers(s, [c.id for c in contacts])  # out of rotation for good
                gate = None if schedule is None else Gate(s, schedule, contacts, now, hold_for(campaign, schedule))
                if (strategy := strategy_for(campaign)) is not None:
                    for contact in contacts:  # a contact's first call goes to its first step's number
                        begin(contact, strategy)
                picks = _pick(contacts, want, blocked, gate, screen, now, parked, invalid)
                plans.extend(self._claim_batch(s, campaign, template, picks, now, token, gate))
            space.charge(len(plans), now)
        if parked:
            log.warning("campaign %s: %d contacts parked for %d s: %s", campaign_id, len(parked), PARK_S,
                        parked[0])  # fmt: skip
        return Claimed(plans)

    def confirm_claim(self, token: str) -> set[str]:
        """The claim's Originates are about to leave: its attempts become `originating`. The ids
        confirmed: only those may be sent (one another node resolved meanwhile is not)."""
        with self.sessions.begin() as s:
            return set(s.scalars(
                update(Attempt)
                .where(Attempt.node == self.node, Attempt.state == AttemptState.CREATED,
                       Attempt.claim_token == token)
                .values(state=AttemptState.ORIGINATING)
                .returning(Attempt.id)
                .execution_options(synchronize_session=False)
            ))  # fmt: skip

    def undo_claim(self, token: str) -> int:
        """Undo a claim none of whose Originates was sent (its caller gave up on it); how many
        attempts it had committed. Safe to repeat."""
        with self.sessions.begin() as s:
            mine = Attempt.node == self.node, Attempt.state.in_(NOT_SENT), Attempt.claim_token == token
            return _undo(s, s.scalars(select(Attempt).where(*mine)))

    def undo_unsent(self, before: datetime) -> int:
        """On start: undo this node's claims from before `before` that were never confirmed."""
        with self.sessions.begin() as s:
            mine = (Attempt.node == self.node, Attempt.state == AttemptState.CREATED,
                    Attempt.created_at < before)  # fmt: skip
            return _undo(s, s.scalars(select(Attempt).where(*mine)))

    def unclaim(self, plans: list[Plan], park: str | None = None) -> None:
        """Undo claims whose Originate was never sent (the daemon paused or stopped first); with
        `park` (why their audio is missing), their contacts are parked for PARK_S with that reason."""
        if not plans:
            return
        with self.sessions.begin() as s:
            ids = [p.attempt_id for p in plans]
            _undo(s, s.scalars(select(Attempt).where(Attempt.id.in_(ids), Attempt.state.in_(NOT_SENT))))
            if park:
                until = self.clock() + timedelta(seconds=PARK_S)
                s.execute(update(Contact).where(Contact.id.in_([p.contact_id for p in plans]))
                          .values(next_attempt_at=until, parked_reason=park))  # fmt: skip

    def _claim_batch(self, s: Session, campaign: Campaign, template: str, picks: list[tuple[Contact, Phone]],
                     now: datetime, token: str, gate: Gate | None) -> list[Plan]:  # fmt: skip
        """Guards for the batch's people (a number live in another campaign is left for later; under
        them the gate reads the people's calls again), one guarded UPDATE (a contact another host
        took, or took and ended since our SELECT, is left out: its attempt count moved), then one
        INSERT of the attempts."""
        if not picks:
            return []
        ids = {contact.id: str(uuid.uuid4()) for contact, _ in picks}
        guarded = guards.take(s, {ids[c.id]: (campaign.id, guards.keys(p.number, c.debt_id)) for c, p in picks}, now)
        for contact, _phone in picks:
            if ids[contact.id] not in guarded:  # on a live call of another campaign or contact
                contact.next_attempt_at = now + timedelta(seconds=GUARD_RETRY_S)
        picks = [(c, p) for c, p in picks if ids[c.id] in guarded]
        listed = guards.listed(s, [p.number for _, p in picks])  # an opt-out committed since the first read
        guards.release(s, [ids[c.id] for c, p in picks if p.number in listed])
        picks = [(c, p) for c, p in picks if p.number not in listed]  # the next claim suppresses them
        if gate is not None:  # a call to the person made and ended since the gate read counts too
            kept = {c.id for c, _ in gate.recheck(s, picks)}
            guards.release(s, [ids[c.id] for c, _ in picks if c.id not in kept])
            picks = [(c, p) for c, p in picks if c.id in kept]
        if not picks:
            return []
        seen = {contact.id: contact.attempts for contact, _ in picks}
        contact_table = cast(Table, Contact.__table__)
        table = contact_table.c
        won = set(s.connection().execute(
            update(contact_table)
            .where(table.id.in_(list(seen)), table.live_attempt_id.is_(None),  # settled since (paid): not won
                   table.attempts == case(seen, value=table.id), table.disposition == Disposition.PENDING)
            .values(live_attempt_id=case({cid: ids[cid] for cid in seen}, value=table.id),
                    attempts=table.attempts + 1, parked_reason=None)
            .returning(table.id)
        ).scalars())  # fmt: skip
        guards.release(s, [ids[c.id] for c, _ in picks if c.id not in won])
        trunk = trunk_of(campaign)
        attempts = [
            Attempt(id=ids[contact.id], campaign_id=campaign.id, contact_id=contact.id, phone_id=phone.id,
                    number=phone.number, node=self.node, trunk=trunk, state=AttemptState.CREATED, created_at=now,
                    originated_at=now, details={}, claim_token=token)  # fmt: skip
            for contact, phone in picks
            if contact.id in won
        ]
        s.add_all(attempts)
        external = {contact.id: contact.external_id for contact, _ in picks}
        return [Plan(a.id, campaign.id, a.contact_id, a.number, external[a.contact_id],
                     gate.dial_by.get(a.contact_id) if gate else None, template) for a in attempts]  # fmt: skip


def _pick(contacts: list[Contact], want: int, blocked: set[str], gate: Gate | None, screen: Screen | None,
          now: datetime, parked: list[str], invalid: dict[int, set[str]]) -> list[tuple[Contact, Phone]]:  # fmt: skip
    """Up to `want` contacts to call now, each with its phone; the others are set aside: suppressed
    (no number off the DNC list), not due (the gate moved next_attempt_at), or parked by `screen`."""
    picks: list[tuple[Contact, Phone]] = []
    for contact in contacts:
        if len(picks) == want:
            break  # the rest stay due for the next claim
        dead = invalid.get(contact.id, set())  # numbers an attempt found invalid: never dialled again
        phone = pick_phone(contact, blocked | dead)
        if phone is None and dead and not {p.number for p in contact.phones} - dead - blocked:
            contact.disposition = Disposition.EXHAUSTED
            log.info("contact %s exhausted: %s", contact.id, NO_NUMBER_LEFT)
            continue
        if phone is None:
            contact.disposition = Disposition.SUPPRESSED
            log.info("contact %s suppressed: no phone, or every number is on the DNC list", contact.id)
            continue
        if gate is not None and not gate.allows(contact, phone.number):
            continue  # not due (window, cap, round): its next_attempt_at moved on
        if screen is not None and (why := screen(contact)) is not None:
            contact.next_attempt_at, contact.parked_reason = now + timedelta(seconds=PARK_S), why
            parked.append(f"contact {contact.external_id}: {why}")
            continue
        picks.append((contact, phone))
    return picks


def _undo(s: Session, found: Iterable[Attempt]) -> int:
    """Delete attempts that were never sent and free their contacts (and their people's guards),
    as if never claimed."""
    undone = 0
    attempts = list(found)
    for attempt in attempts:
        s.execute(
            update(Contact)
            .where(Contact.id == attempt.contact_id, Contact.live_attempt_id == attempt.id)
            .values(live_attempt_id=None, attempts=Contact.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        s.delete(attempt)
        undone += 1
    guards.release(s, [a.id for a in attempts])
    return undone

