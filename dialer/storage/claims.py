"""Claims: the next due contacts of a campaign, each with an attempt row committed before its
Originate. One guarded UPDATE sets contact.live_attempt_id, so a contact is never on two live
calls, even with several dialer hosts on PostgreSQL; the guard also checks the attempt count read
by the SELECT, so a contact another host claimed and ended in between is not dialled again at
once. The campaign's and trunk's limits (storage.limits) and one live call per person across
campaigns (storage.guards) are decided in the same transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, case, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.domain import AttemptState, Disposition
from dialer.storage import guards
from dialer.storage.limits import room, trunk_of
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone, Trunk
from dialer.storage.scheduling import Gate, missing_dnc_lists, schedule_for

log = logging.getLogger(__name__)

GUARD_RETRY_S = 30  # a contact whose number is on a live call elsewhere is looked at again then
SCREEN = 200  # contacts a scheduled campaign's claim looks at, at least, per round


@dataclass(frozen=True)
class Plan:
    """One attempt about to be originated (its row is committed)."""

    attempt_id: str
    campaign_id: int
    contact_id: int
    number: str
    external_id: str | None = None  # the contact's id in the customer's systems (live events)
    template: str = ""  # the channel template (its trunk's); empty: the campaign's trunk_template


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
        """Commit attempts for up to `limit` due contacts (one transaction), in due order, within
        the limits every host shares (storage.limits) and one live call per person (storage.guards)."""
        now = now or self.clock()
        plans: list[Plan] = []
        with self.sessions.begin() as s:
            campaign, space = room(s, campaign_id, now, limit)
            if campaign is None or space.calls <= 0:
                return []
            limit = space.calls
            schedule = schedule_for(campaign)
            if schedule is not None and (missing := missing_dnc_lists(s, schedule)):
                log.warning("campaign %s: policy %s needs the DNC list %s loaded (dialer dnc import FILE "
                            "--source %s): not dialling", campaign_id, schedule.policy.name, missing[0], missing[0])
                return []
            template = self.template_of(s, campaign)
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
                plans.extend(self._claim_batch(s, campaign, template, picks, now))
            space.charge(len(plans), now)
        return plans

    @staticmethod
    def template_of(s: Session, campaign: Campaign) -> str:
        """The channel template its calls use: its named trunk's, else its own."""
        if campaign.trunk_name:
            trunk = s.get(Trunk, campaign.trunk_name)
            if trunk is not None:
                return trunk.template
        return campaign.trunk_template

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
            guards.release(s, [plan.attempt_id for plan in plans])

    def _claim_batch(self, s: Session, campaign: Campaign, template: str, picks: list[tuple[Contact, Phone]],
                     now: datetime) -> list[Plan]:  # fmt: skip
        """Guards for the batch's people (a number live in another campaign is left for later), one
        guarded UPDATE (a contact another host took, or took and ended since our SELECT, is left
        out: its attempt count moved), then one INSERT of the attempts."""
        if not picks:
            return []
        ids = {contact.id: str(uuid.uuid4()) for contact, _ in picks}
        guarded = guards.take(s, {ids[c.id]: (campaign.id, guards.keys(p.number, c.debt_id)) for c, p in picks}, now)
        for contact, _phone in picks:
            if ids[contact.id] not in guarded:  # on a live call of another campaign or contact
                contact.next_attempt_at = now + timedelta(seconds=GUARD_RETRY_S)
        picks = [(c, p) for c, p in picks if ids[c.id] in guarded]
        if not picks:
            return []
        seen = {contact.id: contact.attempts for contact, _ in picks}
        contact_table = cast(Table, Contact.__table__)
        table = contact_table.c
        won = set(s.connection().execute(
            update(contact_table)
            .where(table.id.in_(list(seen)), table.live_attempt_id.is_(None),
                   table.attempts == case(seen, value=table.id))
            .values(live_attempt_id=case({cid: ids[cid] for cid in seen}, value=table.id), attempts=table.attempts + 1)
            .returning(table.id)
        ).scalars())  # fmt: skip
        guards.release(s, [ids[c.id] for c, _ in picks if c.id not in won])
        trunk = trunk_of(campaign)
        attempts = [
            Attempt(id=ids[contact.id], campaign_id=campaign.id, contact_id=contact.id, phone_id=phone.id,
                    number=phone.number, node=self.node, trunk=trunk, state=AttemptState.ORIGINATING,
                    created_at=now, originated_at=now, details={})  # fmt: skip
            for contact, phone in picks
            if contact.id in won
        ]
        s.add_all(attempts)
        external = {contact.id: contact.external_id for contact, _ in picks}
        return [Plan(a.id, campaign.id, a.contact_id, a.number, external[a.contact_id], template) for a in attempts]
