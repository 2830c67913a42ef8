"""Return calls in SQL: who is calling back (the caller's number matched to the people the dialer
called or texted in the last N days, across campaigns, most recent first), the inbound attempt
that carries a matched call, and its ending (opt-outs, promises and texts as on an outbound call).

Matching: the attempts (outbound) and SMS messages to that exact E.164 number since `now - days`,
newest first. The people behind them are told apart by name (a person imported into two
campaigns is one person); two different names on one number make it `shared`, and a shared or
unknown number gets the configured flow, not a contact's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import AttemptState, Direction, Disposition, Outcome, ReturnMatch
from dialer.storage import guards
from dialer.storage.ending_hooks import EndingHook, run_hooks
from dialer.storage.endings import add_opt_out
from dialer.storage.ivr_store import EventRow, add_events
from dialer.storage.models import Attempt, Campaign, Contact, Phone
from dialer.storage.return_call_models import ReturnCall
from dialer.storage.sms_models import Sms

log = logging.getLogger(__name__)

SETTLED_BY = {Outcome.ANSWERED, Outcome.TRANSFERRED}  # a return call that reached a pending contact


@dataclass(frozen=True)
class Candidate:
    """One contact the number was called or texted for, and when last."""

    contact_id: int
    campaign_id: int
    name: str | None
    last_at: datetime
    by: str  # call | sms


@dataclass(frozen=True)
class Match:
    kind: ReturnMatch
    candidates: tuple[Candidate, ...] = ()

    @property
    def chosen(self) -> Candidate | None:
        return self.candidates[0] if self.kind == ReturnMatch.IDENTIFIED else None


def match(s: Session, number: str, now: datetime, days: int) -> Match:
    """The people this number was called or texted for in the last `days` days, newest first."""
    since = now - timedelta(days=days)
    found: dict[int, Candidate] = {}
    calls = (select(Attempt.contact_id, Attempt.campaign_id, Contact.name, Attempt.created_at)
             .join(Contact, Contact.id == Attempt.contact_id)
             .where(Attempt.number == number, Attempt.created_at >= since,
                    Attempt.direction == Direction.OUTBOUND))  # fmt: skip
    texts = (select(Sms.contact_id, Sms.campaign_id, Contact.name, Sms.created_at)
             .join(Contact, Contact.id == Sms.contact_id)
             .where(Sms.number == number, Sms.created_at >= since))  # fmt: skip
    for by, query in (("call", calls), ("sms", texts)):
        for contact_id, campaign_id, name, at in s.execute(query):
            if contact_id not in found or found[contact_id].last_at < at:
                found[contact_id] = Candidate(contact_id, campaign_id, name, at, by)
    ordered = tuple(sorted(found.values(), key=lambda c: c.last_at, reverse=True))
    if not ordered:
        return Match(ReturnMatch.UNKNOWN)
    people = {(c.name or f"#{c.contact_id}").strip().casefold() for c in ordered}
    return Match(ReturnMatch.IDENTIFIED if len(people) == 1 else ReturnMatch.SHARED, ordered)


def campaign_for_did(s: Session, did: str) -> Campaign | None:
    """The newest campaign whose caller ID is this DID (its company and language greet unknown callers)."""
    dids = {did, did.lstrip("+"), "+" + did.lstrip("+")}  # the dialplan may drop the "+"
    return s.scalars(select(Campaign).where(Campaign.caller_id.in_(dids)).order_by(Campaign.id.desc()).limit(1)).first()


def open_call(sessions: sessionmaker[Session], number: str, did: str, node: str, now: datetime,
              days: int) -> tuple[ReturnCall, Attempt | None, Match]:  # fmt: skip
    """Record the return call and, for an identified caller, its inbound attempt (answered now)."""
    with sessions.begin() as s:
        found = match(s, number, now, days)
        row = ReturnCall(at=now, node=node, number=number, did=did, match=found.kind,
                         candidates=len(found.candidates), details={})  # fmt: skip
        attempt = None
        chosen = found.chosen
        if chosen is not None:
            phone_id = s.scalar(select(Phone.id).where(Phone.contact_id == chosen.contact_id, Phone.number == number))
            if phone_id is None:  # texted on a number that is not one of the contact's phones: its first
                phone_id = s.scalar(select(Phone.id).where(Phone.contact_id == chosen.contact_id)
                                    .order_by(Phone.position).limit(1))  # fmt: skip
            attempt = Attempt(id=str(uuid.uuid4()), campaign_id=chosen.campaign_id, contact_id=chosen.contact_id,
                              phone_id=phone_id, number=number, node=node, state=AttemptState.ANSWERED,
                              created_at=now, answered_at=now, direction=Direction.INBOUND,
                              details={"did": did, "returned": chosen.by})  # fmt: skip
            s.add(attempt)
            row.attempt_id, row.campaign_id, row.contact_id = attempt.id, chosen.campaign_id, chosen.contact_id
            # the person is on the line: no campaign dials them meanwhile (given back at the ending)
            debt = s.scalar(select(Contact.debt_id).where(Contact.id == chosen.contact_id))
            guards.take(s, {attempt.id: (chosen.campaign_id, guards.keys(number, debt))}, now)
        else:  # reports count it under the campaign whose caller ID it reached
            campaign = campaign_for_did(s, did)
            row.campaign_id = campaign.id if campaign else None
        s.add(row)
        s.flush()
        s.expunge_all()
    log.info("return call %s from %s to %s: %s (%d candidates)", row.id, _masked(number), did, found.kind.value,
             len(found.candidates))  # fmt: skip
    return row, attempt, found


@dataclass(frozen=True)
class ReturnEnding:
    return_call_id: int
    attempt_id: str | None
    outcome: Outcome
    step: str | None
    details: dict[str, Any]
    events: tuple[EventRow, ...] = ()


def finish_call(sessions: sessionmaker[Session], ending: ReturnEnding, now: datetime,
                hooks: Iterable[EndingHook] = ()) -> None:  # fmt: skip
    """End a return call (once): its attempt and events, an opt-out to the DNC list, a pending contact
    reached by a completed call, and the repository's ending hooks (promises, texts)."""
    with sessions.begin() as s:
        row = s.get(ReturnCall, ending.return_call_id)
        if row is None or row.ended_at is not None:
            return
        row.ended_at, row.outcome = now, ending.outcome
        row.details = {**row.details, **{k: v for k, v in ending.details.items() if k != "sms"}}
        attempt = s.get(Attempt, ending.attempt_id) if ending.attempt_id else None
        if attempt is None:
            return
        attempt.state, attempt.ended_at, attempt.recorded_at, attempt.outcome = AttemptState.ENDED, now, now, ending.outcome
        guards.release(s, [attempt.id])
        attempt.step_reached = ending.step
        attempt.reason = f"return call: {ending.outcome.value}"
        attempt.details = {**attempt.details, **ending.details}
        add_events(s, attempt.id, ending.events)
        contact, campaign = s.get(Contact, attempt.contact_id), s.get(Campaign, attempt.campaign_id)
        assert contact is not None and campaign is not None
        if ending.outcome == Outcome.OPTED_OUT:
            contact.disposition = Disposition.SUPPRESSED
            add_opt_out(s, attempt, now)
        elif ending.outcome in SETTLED_BY and contact.disposition == Disposition.PENDING:
            contact.disposition = Disposition.REACHED
        run_hooks(s, tuple(hooks), campaign, contact, attempt, now)
    log.info("return call %s ended: %s", ending.return_call_id, ending.outcome.value)


def _masked(number: str) -> str:
    return number[:-4] + "****" if len(number) > 6 else "****"
