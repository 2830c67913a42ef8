"""Which of a contact's numbers are still in rotation: a number an attempt found invalid (dial
result invalid_number: SIP 404/410/484/604, Q.850 1/2/3/22/28, or a special information tone)
is out for good. A contact whose numbers are all out ends `exhausted`, and the ending says why."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.domain import DialResult
from dialer.storage.models import Attempt, Contact

NO_NUMBER_LEFT = "no dialable number left: every number is invalid"


def invalid_numbers(s: Session, contact_ids: Iterable[int]) -> dict[int, set[str]]:
    """contact id -> its numbers some attempt found invalid."""
    ids = list(contact_ids)
    found: dict[int, set[str]] = {}
    if not ids:
        return found
    rows = s.execute(
        select(Attempt.contact_id, Attempt.number)
        .where(Attempt.contact_id.in_(ids), Attempt.dial_result == DialResult.INVALID_NUMBER)
    )  # fmt: skip
    for contact_id, number in rows:
        found.setdefault(contact_id, set()).add(number)
    return found


def numbers_left(s: Session, contact: Contact) -> list[str]:
    """The contact's numbers still in rotation (DNC is checked apart, at dial time)."""
    dead = invalid_numbers(s, [contact.id]).get(contact.id, set())
    return [p.number for p in contact.phones if p.number not in dead]
