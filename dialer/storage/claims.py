"""Claims: the next due contacts of a campaign, each with an attempt row committed before its
Originate. One guarded UPDATE sets contact.live_attempt_id, so a contact is never on two live
calls, even with several dialer hosts on PostgreSQL.

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

from sqlalchemy import CursorResult, Select, Table, case, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.domain import AttemptState, Disposition
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone
from dialer.storage.scheduling import Gate, hold_for, missing_dnc_lists, schedule_for

log = logging.getLogger(__name__)

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
              screen: Screen | None = None) -> list[Plan]:  # fmt: skip
        """Commit attempts for up to `limit` due contacts (one transaction), in due order, all
        carrying `token` (state `created`). `screen` may park a due contact, with its reason."""
        now = now or self.clock()
        token = token or str(uuid.uuid4())
        plans: list[Plan] = []
        parked: list[str] = []  # why each parked contact may not be called
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
                gate = None if campaign is None or schedule is None else Gate(
                    s, schedule, contacts, now, hold_for(campaign, schedule))  # fmt: skip
                picks = _pick(contacts, want, blocked, gate, screen, now, parked)
                dial_by = gate.dial_by if gate is not None else {}
                plans.extend(self._claim_batch(s, campaign_id, picks, now, token, dial_by))
        if parked:
            log.warning("campaign %s: %d contacts parked for %d s: %s", campaign_id, len(parked), PARK_S,
                        parked[0])  # fmt: skip
        return plans

    def confirm_claim(self, token: str) -> int:
        """The claim's Originates are about to leave: its attempts become `originating`."""
        with self.sessions.begin() as s:
            result = s.execute(
                update(Attempt)
                .where(Attempt.node == self.node, Attempt.state == AttemptState.CREATED,
                       Attempt.claim_token == token)  # fmt: skip
                .values(state=AttemptState.ORIGINATING)
                .execution_options(synchronize_session=False)
            )
            return int(cast(CursorResult[Any], result).rowcount)

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

    def unclaim(self, plans: list[Plan]) -> None:
        """Undo claims whose Originate was never sent (the daemon paused or stopped first)."""
        if not plans:
            return
        with self.sessions.begin() as s:
            ids = [p.attempt_id for p in plans]
            _undo(s, s.scalars(select(Attempt).where(Attempt.id.in_(ids), Attempt.state.in_(NOT_SENT))))

    def _claim_batch(self, s: Session, campaign_id: int, picks: list[tuple[Contact, Phone]], now: datetime,
                     token: str, dial_by: dict[int, datetime]) -> list[Plan]:  # fmt: skip
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
            .values(live_attempt_id=case(ids, value=table.id), attempts=table.attempts + 1,
                    parked_reason=None)
            .returning(table.id)
        ).scalars())  # fmt: skip
        attempts = [
            Attempt(id=ids[contact.id], campaign_id=campaign_id, contact_id=contact.id, phone_id=phone.id,
                    number=phone.number, node=self.node, state=AttemptState.CREATED, created_at=now,
                    originated_at=now, details={}, claim_token=token)  # fmt: skip
            for contact, phone in picks
            if contact.id in won
        ]
        s.add_all(attempts)
        external = {contact.id: contact.external_id for contact, _ in picks}
        return [Plan(a.id, campaign_id, a.contact_id, a.number, external[a.contact_id],
                     dial_by.get(a.contact_id)) for a in attempts]  # fmt: skip


def _pick(contacts: list[Contact], want: int, blocked: set[str], gate: Gate | None, screen: Screen | None,
          now: datetime, parked: list[str]) -> list[tuple[Contact, Phone]]:  # fmt: skip
    """Up to `want` contacts to call now, each with its phone; the others are set aside: suppressed
    (no number off the DNC list), not due (the gate moved next_attempt_at), or parked by `screen`."""
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
        if screen is not None and (why := screen(contact)) is not None:
            contact.next_attempt_at, contact.parked_reason = now + timedelta(seconds=PARK_S), why
            parked.append(f"contact {contact.external_id}: {why}")
            continue
        picks.append((contact, phone))
    return picks


def _undo(s: Session, attempts: Iterable[Attempt]) -> int:
    """Delete attempts that were never sent and free their contacts, as if never claimed."""
    undone = 0
    for attempt in list(attempts):
        s.execute(
            update(Contact)
            .where(Contact.id == attempt.contact_id, Contact.live_attempt_id == attempt.id)
            .values(live_attempt_id=None, attempts=Contact.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        s.delete(attempt)
        undone += 1
    return undone

