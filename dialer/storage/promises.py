"""A promise to pay as a state (campaign setting [promise], e.g. `grace_days = 3`).

After an ending whose call captured a `promise_to_pay` fact, the contact is not called until the
promised date plus the grace period (a `promise` row, open; the contact stays pending with its
next call then). `dialer payments import` keeps it (the contact is paid, nothing more is sent or
dialled); a promise whose time passes unpaid puts the contact back in the campaign: its next
call leaves then, and that call's ending marks the promise broken.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.domain import Disposition, PromiseState
from dialer.storage.models import Attempt, Campaign, Contact, IvrEvent, Promise

log = logging.getLogger(__name__)

FACT = "promise_to_pay"
DEFAULT_GRACE_DAYS = 3


def promise_rules(campaign: Campaign) -> dict[str, object] | None:
    """[promise] of the campaign, None when promises are not a state there."""
    rules = campaign.settings.get("promise")
    return dict(rules) if isinstance(rules, dict) else None


def promised(s: Session, attempt_id: str) -> tuple[date, str | None] | None:
    """The date and amount of the attempt's last promise_to_pay fact."""
    value = s.scalars(select(IvrEvent.value).where(IvrEvent.attempt_id == attempt_id, IvrEvent.kind == "fact",
                                                   IvrEvent.name == FACT).order_by(IvrEvent.seq.desc())).first()  # fmt: skip
    try:
        fact = json.loads(value or "")
        return date.fromisoformat(str(fact["date"])), (str(fact["amount"]) if fact.get("amount") else None)
    except (ValueError, KeyError, TypeError):
        return None


def break_passed(s: Session, contact_id: int, now: datetime) -> int:
    """Open promises of the contact whose time has passed: broken."""
    return s.execute(update(Promise).where(Promise.contact_id == contact_id, Promise.state == PromiseState.OPEN,
                                           Promise.due_at <= now)
                     .values(state=PromiseState.BROKEN, resolved_at=now)).rowcount  # fmt: skip


def promise_after_ending(s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime) -> None:
    """An ending hook (storage.ending_hooks): record the call's promise and hold the contact."""
    rules = promise_rules(campaign)
    if rules is None or contact.disposition == Disposition.PAID:
        return
    if break_passed(s, contact.id, now):
        log.info("contact %s: a promise to pay passed unpaid (broken)", contact.id)
    found = promised(s, attempt.id) if contact.disposition != Disposition.SUPPRESSED else None
    if found is None:
        return
    day, amount = found
    grace = float(str(rules.get("grace_days", DEFAULT_GRACE_DAYS)))
    due_at = datetime.combine(day, time(), UTC) + timedelta(days=1 + grace)  # the end of the promised day + grace
    s.add(Promise(campaign_id=campaign.id, contact_id=contact.id, attempt_id=attempt.id, promised_date=day,
                  amount=amount, due_at=due_at, state=PromiseState.OPEN, created_at=now))  # fmt: skip
    contact.disposition, contact.next_attempt_at = Disposition.PENDING, due_at
    log.info("contact %s promised to pay on %s: not called before %s", contact.id, day, due_at)


def latest(s: Session, contact_id: int) -> Promise | None:
    return s.scalars(select(Promise).where(Promise.contact_id == contact_id).order_by(Promise.id.desc())).first()
