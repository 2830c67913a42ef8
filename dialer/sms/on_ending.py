"""Texts queued when an attempt ends (a storage.ending_hooks hook, in the ending's transaction):

- what the call's flow asked for (the `sms` step: details["sms"], e.g. the promise confirmation);
- a text on the contact's final result, when the campaign's [sms.on_result] names a template:
  `machine` (the call reached a machine) and `no_contact` (the last attempt ended without anyone
  answering: the contact is exhausted);
- an SMS step of the campaign's contact strategy (details["strategy_sms"], dialer.storage.strategies),
  to the contact's first mobile number;
- `return_call_cut` after a return call (direction inbound) cut before its message was delivered:
  the number to call (the DID it reached) and the contact's reference.

Each is queued once (a dedupe key: replayed endings and other hosts queue nothing twice), to the
number called, or for a result text to the contact's first mobile number when it has one. DNC,
opt-outs, paid contacts and the window are checked when the text is claimed for sending."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from dialer.domain import Direction, Disposition, Outcome, PhoneType
from dialer.sms.messages import MessageError
from dialer.sms.outbox import queue_text
from dialer.storage.models import Attempt, Campaign, Contact
from dialer.storage.sms_store import sms_settings

log = logging.getLogger(__name__)

RESULTS = ("machine", "no_contact")


def result_of(contact: Contact, attempt: Attempt) -> str | None:
    """The final result an [sms.on_result] text is for, if the attempt reached one."""
    if attempt.outcome == Outcome.MACHINE:
        return "machine"
    if contact.disposition == Disposition.EXHAUSTED and attempt.outcome is None:
        return "no_contact"
    return None


def text_number(contact: Contact, called: str) -> str:
    mobiles = [p.number for p in contact.phones if p.type == PhoneType.MOBILE]
    return mobiles[0] if mobiles else called


def texts_after_ending(s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime) -> None:
    settings = sms_settings(campaign)
    if not settings or contact.disposition in (Disposition.SUPPRESSED, Disposition.PAID):
        return
    for i, request in enumerate(attempt.details.get("sms") or []):
        extra = {k: v for k, v in request.items() if k in ("promise_date", "promise_amount")}
        _queue(s, campaign, contact, attempt, attempt.number, str(request.get("template")), "ivr",
               f"ivr:{attempt.id}:{i}", extra)  # fmt: skip
    if attempt.direction == Direction.INBOUND and attempt.outcome == Outcome.HUNG_UP_EARLY:
        # a return call cut before its message: the number to call back and the reference
        _queue(s, campaign, contact, attempt, attempt.number, "return_call_cut", "return", f"return:{attempt.id}",
               {"callback_number": str(attempt.details.get("did") or campaign.caller_id or "")})  # fmt: skip
    for request in attempt.details.get("strategy_sms") or []:  # an SMS step of the contact strategy
        _queue(s, campaign, contact, attempt, text_number(contact, attempt.number), str(request.get("template")),
               "strategy", f"strategy:{contact.id}:{request.get('step')}:{attempt.id}", {})  # fmt: skip
    result = result_of(contact, attempt)
    template = (settings.get("on_result") or {}).get(result) if result else None
    if template:
        _queue(s, campaign, contact, attempt, text_number(contact, attempt.number), str(template), "result",
               f"result:{contact.id}", {})  # fmt: skip


def _queue(s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, number: str, template: str,
           kind: str, dedupe: str, extra: dict[str, str]) -> None:  # fmt: skip
    try:
        row = queue_text(s, campaign, contact, number, template, kind=kind, dedupe=dedupe, extra=extra,
                         attempt_id=attempt.id)  # fmt: skip
    except MessageError as exc:  # a campaign text that cannot be made: the call's ending stands
        log.error("campaign %s, contact %s: %s text not queued: %s", campaign.name, contact.id, kind, exc)
        return
    if row is not None:
        log.info("attempt %s: %s text %s queued for contact %s", attempt.id, kind, template, contact.id)
