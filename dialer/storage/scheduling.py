"""The scheduler inside the repository's transactions: which claimed contacts are due now, where a
blocked contact's next_attempt_at goes, and the next round after a contact is settled.

The scheduler itself (scheduler/) is pure; this module feeds it rows. A contact blocked by a
window, a cap or a round gets next_attempt_at = when it next becomes due, so the indexed due
query (campaign_id, disposition, next_attempt_at) skips it until then.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.domain import Direction, Disposition, Outcome
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, Phone
from scheduler.caps import Past
from scheduler.due import ContactView, Verdict, evaluate
from scheduler.policy import Schedule, parse_schedule
from scheduler.windows import ScheduleError
from scheduler.zones import contact_zones

log = logging.getLogger(__name__)
# a person spoke with the IVR: what "conversation" means for a quiet period
CONVERSATION = {
    Outcome.ANSWERED,
    Outcome.TRANSFERRED,
    Outcome.HUNG_UP_EARLY,
    Outcome.IDENTITY_FAILED,
    Outcome.OPTED_OUT,
}
_cache: dict[tuple[int, str, str], Schedule | None] = {}


def schedule_for(campaign: Campaign) -> Schedule | None:
    """The campaign's parsed schedule (cached by its settings), None if it has none."""
    raw = campaign.settings.get("schedule")
    if raw is None:
        return None
    key = (campaign.id, json.dumps(raw, sort_keys=True, default=str), campaign.default_region)
    if key not in _cache:
        if len(_cache) > 256:
            _cache.clear()
        try:
            _cache[key] = parse_schedule(campaign.settings, campaign.default_region)
        except ScheduleError as exc:
            raise ScheduleError(f"campaign {campaign.name}: settings.{exc}") from None
    return _cache[key]


def missing_dnc_lists(s: Session, schedule: Schedule) -> list[str]:
    """DNC sources the policy needs that have no number loaded (it must not dial without them)."""
    return [
        src
        for src in schedule.dnc_sources
        if s.scalar(select(Dnc.number).where(Dnc.source == src).limit(1)) is None
    ]


def histories(s: Session, contact_ids: Iterable[int]) -> dict[int, list[Past]]:
    """Every attempt that counts against these contacts' caps: their own, and any other campaign's
    (or contact row's) call to one of their numbers or about their debt: the caps are the
    person's, not the row's. Three indexed queries."""
    out: dict[int, list[Past]] = defaultdict(list)
    for contact_id, past in people_histories(s, contact_ids).items():
        out[contact_id] = [p for p, _campaign in past]
    return out


def people_histories(s: Session, contact_ids: Iterable[int]) -> dict[int, list[tuple[Past, int]]]:
    """histories(), each call with the campaign it was made by (explain names it)."""
    ids = set(contact_ids)
    out: dict[int, list[tuple[Past, int]]] = defaultdict(list)
    if not ids:
        return out
    by_number: dict[str, set[int]] = defaultdict(set)
    by_debt: dict[str, set[int]] = defaultdict(set)
    for cid, debt, number in s.execute(select(Contact.id, Contact.debt_id, Phone.number)
                                       .join(Phone, Phone.contact_id == Contact.id, isouter=True)
                                       .where(Contact.id.in_(ids))):  # fmt: skip
        if number:
            by_number[number].add(cid)
        if debt:
            by_debt[debt].add(cid)
    columns = (Attempt.id, Attempt.contact_id, Attempt.number, Attempt.created_at, Attempt.outcome,
               Attempt.campaign_id, Contact.debt_id, Attempt.direction)  # fmt: skip
    base = select(*columns).join(Contact, Contact.id == Attempt.contact_id)
    queries = [base.where(Attempt.contact_id.in_(ids))]
    if by_number:
        queries.append(base.where(Attempt.number.in_(list(by_number))))
    if by_debt:
        queries.append(base.where(Contact.debt_id.in_(list(by_debt))))
    seen: set[tuple[int, str]] = set()
    for query in queries:
        for aid, owner, number, at, outcome, campaign_id, debt, direction in s.execute(query):
            targets = ({owner} & ids) | by_number.get(number, set()) | by_debt.get(debt, set())
            for target in targets:
                if (target, aid) not in seen:
                    seen.add((target, aid))
                    placed = direction != Direction.INBOUND  # a return call: a conversation, not a call
                    out[target].append((Past(at, outcome in CONVERSATION, placed), campaign_id))
    return out


def view(
    contact: Contact, number: str | None, history: list[Past], not_before: datetime | None = None
) -> ContactView:
    return ContactView(contact.timezone, number, contact.fields or {}, history, not_before)


def hold_for(campaign: Campaign, schedule: Schedule) -> timedelta:
    """How long the calling window must stay open after a call leaves: ring timeout and margin."""
    return timedelta(seconds=campaign.ring_timeout_s + schedule.margin_s)


class Gate:
    """Screens one batch of contacts found by the due query."""

    def __init__(self, s: Session, schedule: Schedule, contacts: list[Contact], now: datetime,
                 hold: timedelta = timedelta(0)) -> None:  # fmt: skip
        self.schedule, self.now, self.hold = schedule, now, hold
        self.history = histories(s, [c.id for c in contacts]) if schedule.caps.any else {}
        self.dial_by: dict[int, datetime] = {}  # contact id -> last moment its Originate may leave

    def allows(self, contact: Contact, number: str) -> bool:
        """True if due now; otherwise moves next_attempt_at (or settles the contact) and says no."""
        history = self.history.get(contact.id, [])
        verdict = evaluate(self.schedule, view(contact, number, history), self.now, self.hold)
        if verdict.due:
            windows, zones = self.schedule.windows, verdict.zones
            closes = None if zones is None or windows.always else windows.closes_at(self.now, zones.zones)
            if closes is not None:
                self.dial_by[contact.id] = closes - self.hold
            return True
        park(contact, verdict)
        return False

    def recheck(self, s: Session, picks: list[tuple[Contact, Phone]]) -> list[tuple[Contact, Phone]]:
        """The picks still due, their people's calls read again once the claim holds their guards:
        a call another campaign made and ended since the first read counts too (each statement
        sees what was committed before it, and no other claim can add a call while we hold them)."""
        if not self.schedule.caps.any or not picks:
            return picks
        self.history = histories(s, [contact.id for contact, _ in picks])
        return [(contact, phone) for contact, phone in picks if self.allows(contact, phone.number)]


def park(contact: Contact, verdict: Verdict) -> None:
    """Put a blocked contact aside until it is next due; with no next time, it is exhausted."""
    if verdict.next_at is None:
        contact.disposition = Disposition.EXHAUSTED
        log.info("contact %s exhausted: %s", contact.id, "; ".join(r.text for r in verdict.reasons))
    else:
        contact.next_attempt_at = verdict.next_at
        log.debug("contact %s not due until %s: %s", contact.id, verdict.next_at,
                  verdict.reasons[-1].text if verdict.reasons else "due then")  # fmt: skip


def after_ending(
    schedule: Schedule, contact: Contact, attempt: Attempt, now: datetime, history: list[Past],
    hold: timedelta,
) -> None:
    """After the repository's retry rules: the next round for a settled contact, and the retry
    time moved to when the schedule allows it. `history`: the contact's attempts, this one too."""
    if contact.disposition in (Disposition.REACHED, Disposition.EXHAUSTED) and schedule.recurrence.has_rounds:
        zones = contact_zones(contact.timezone, attempt.number, schedule.default_zones)
        today = now.astimezone(zones.first).date()
        nxt = schedule.recurrence.next_day(today + timedelta(days=1), contact.fields or {})
        if nxt is None:
            return
        contact.disposition, contact.attempts, contact.next_phone = Disposition.PENDING, 0, 0
        contact.next_attempt_at = datetime.combine(nxt, time(0), tzinfo=zones.first)
        log.info("contact %s: round over, next round on %s", contact.id, nxt)
    if contact.disposition != Disposition.PENDING:
        return
    phones = list(contact.phones)
    number = phones[contact.next_phone % len(phones)].number if phones else None
    verdict = evaluate(schedule, view(contact, number, history, contact.next_attempt_at), now, hold)
    park(contact, verdict)
