"""What a call's ending tells the webhooks: the events written to the outbox in the ending's own
transaction (an ending hook, storage.ending_hooks), so an event exists exactly when its ending is
recorded. Kinds:

- `attempt.ended`: every ending, with its dial result or outcome, times, SIP code and details;
- `attempt.transferred`: the IVR transferred the call to a queue (whether an agent took it, the wait);
- `agent.answered`: an agent took the transferred call;
- `promise.created`: the caller promised to pay (date, amount; held_until with [promise]);
- `contact.opted_out`: the caller asked for no more calls (the number is on the DNC list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.domain import Outcome
from dialer.storage.models import Attempt, Campaign, Contact, Promise
from dialer.storage.promises import promised
from dialer.storage.webhook_store import enqueue, iso, subscriptions

KINDS = ("attempt.ended", "attempt.transferred", "agent.answered", "promise.created", "contact.opted_out",
         "sms.delivered", "sms.failed", "sms.expired", "sms.replied")  # sms.*: written by storage.sms_store


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def attempt_body(campaign: Campaign, contact: Contact, attempt: Attempt) -> dict[str, Any]:
    talked = (attempt.ended_at - attempt.answered_at).total_seconds() if attempt.ended_at and attempt.answered_at else None
    return {
        "campaign": {"id": campaign.id, "name": campaign.name},
        "contact": {"id": contact.id, "external_id": contact.external_id, "disposition": _value(contact.disposition)},
        "attempt": {"id": attempt.id, "number": attempt.number, "dial_result": _value(attempt.dial_result),
                    "outcome": _value(attempt.outcome), "sip_code": attempt.sip_code,
                    "q850_cause": attempt.q850_cause, "step_reached": attempt.step_reached,
                    "created_at": _iso(attempt.created_at), "answered_at": _iso(attempt.answered_at),
                    "ended_at": _iso(attempt.ended_at), "talk_s": talked, "details": attempt.details or {}},
    }  # fmt: skip


def webhooks_after_ending(s: Session, campaign: Campaign, contact: Contact, attempt: Attempt, now: datetime) -> None:
    """An ending hook: the ending's events into the outbox (nothing when no one subscribed)."""
    if not subscriptions(s, campaign.id):  # one query per ending when webhooks are not used
        return
    body = attempt_body(campaign, contact, attempt)

    def put(kind: str, extra: dict[str, Any] | None = None) -> None:
        enqueue(s, campaign.id, kind, {**body, **(extra or {})}, now, attempt_id=attempt.id)

    details = attempt.details or {}
    if "agent_answered" in details:
        put("attempt.transferred", {"queue": details.get("queue"), "queue_wait_s": details.get("queue_wait_s")})
        if details.get("agent_answered"):
            put("agent.answered", {"queue": details.get("queue"), "queue_wait_s": details.get("queue_wait_s")})
    found = promised(s, attempt.id)  # the IVR's fact, whether or not [promise] makes it a state
    if found is not None:
        held = s.scalars(select(Promise).where(Promise.attempt_id == attempt.id)).first()  # [promise]: held until
        put("promise.created", {"promise": {"date": found[0].isoformat(), "amount": found[1],
                                            "held_until": _iso(held.due_at) if held else None}})  # fmt: skip
    if attempt.outcome == Outcome.OPTED_OUT:
        put("contact.opted_out")
    put("attempt.ended")
