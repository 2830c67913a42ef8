"""Claims: the next due contacts of a campaign, each with an attempt row committed before its
Originate. One guarded UPDATE sets contact.live_attempt_id, so a contact is never on two live
calls, even with several dialer hosts on PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, case, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.domain import AttemptState, Disposition
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone
from dialer.storage.rotation import NO_NUMBER_LEFT, invalid_numbers
from dialer.storage.scheduling import Gate, missing_dnc_lists, schedule_for

log = logging.getLogger(__name__)

SCREEN = 200  # contacts a scheduled campaign's claim looks at, at least, per round


@dataclass(frozen=True)
class Plan:
    """One attempt about to be originated (its row is committed)."""

    attempt_id: str
    campaign_id: int
    contact_id: int
    number: str
    external_id: str | None = None  # the contact's id in the customer's systems (live events)


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
                invalid = invalid_numbers(s, [c.id for c in contacts])  # out of rotation for good
                gate = Gate(s, schedule, contacts, now) if schedule is not None else None
                picks: list[tuple[Contact, Phone]] = []
                for contact in contacts:
                    if len(picks) == want:
                        break  # the rest stay due for the next claim
                    dead = invalid.get(contact.id, set())
                    phone = _pick_phone(contact, blocked | dead)
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

