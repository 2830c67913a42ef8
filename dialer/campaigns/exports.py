"""CSV exports that a spreadsheet opens safely.

A cell that starts with = + - @ (or a tab / carriage return) is run as a formula by Excel and
LibreOffice; such cells get a leading apostrophe, which the spreadsheet shows as text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.storage.models import Attempt, Contact

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ATTEMPT_COLUMNS = [
    "attempt_id", "contact", "name", "number", "state", "created_at", "originated_at", "answered_at",
    "ended_at", "dial_result", "outcome", "reason", "q850_cause", "sip_code", "step_reached",
]  # fmt: skip


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(getattr(value, "value", value))
    return "'" + text if text.startswith(FORMULA_START) else text


def write_rows(out: TextIO, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
    writer = csv.writer(out)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        count += 1
    return count


def export_attempts(session: Session, campaign_id: int, out: TextIO) -> int:
    """Every attempt of the campaign, oldest first; returns how many were written."""
    query = (
        select(Attempt, Contact.external_id, Contact.name)
        .join(Contact, Contact.id == Attempt.contact_id)
        .where(Attempt.campaign_id == campaign_id)
        .order_by(Attempt.created_at, Attempt.id)
    )
    rows = (
        [a.id, ext, name, a.number, a.state, a.created_at, a.originated_at, a.answered_at, a.ended_at,
         a.dial_result, a.outcome, a.reason, a.q850_cause, a.sip_code, a.step_reached]
        for a, ext, name in session.execute(query)
    )  # fmt: skip
    return write_rows(out, ATTEMPT_COLUMNS, rows)
