"""Payments from a file: `dialer payments import FILE` marks contacts paid and cancels what is
pending for them (their next calls, queued texts, open promises: kept).

The file is a CSV whose header names the contact's external id (external_id, id, contact,
cliente, ...) and, optionally, campaign, amount and date columns. Every line is applied or
rejected as FILE:LINE: FIELD: REASON; with `strict`, one rejected line rejects the whole file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.campaigns.csv_files import Rejection, csv_reader, decode
from dialer.domain import Disposition, PromiseState, SmsState
from dialer.storage.models import Campaign, Contact, Promise
from dialer.storage.sms_models import Sms

log = logging.getLogger(__name__)
ID_HEADERS = {"external_id", "id", "contact", "contacto", "cliente", "customer", "klient"}
COLUMNS = {"campaign": {"campaign", "campana", "campaña", "kampania"}, "amount": {"amount", "importe", "monto", "kwota"},
           "date": {"date", "paid_on", "fecha", "data"}}  # fmt: skip


class PaymentsFileError(ValueError):
    """The file cannot be read as payments (its header); the message names file, line and field."""


@dataclass
class PaymentsReport:
    path: Path
    rows_read: int = 0
    paid: int = 0  # contacts marked paid
    promises_kept: int = 0
    texts_cancelled: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"{self.path}:{r.line}: {r.field}: {r.reason}" for r in self.rejections]


def _header(path: Path, row: list[str]) -> tuple[int, dict[str, int], str]:
    lowered = [c.strip().lower() for c in row]
    found = next((i for i, c in enumerate(lowered) if c in ID_HEADERS), None)
    if found is None:
        raise PaymentsFileError(f"{path}:1: external_id: no column for the contact's external id "
                                f"(one of {', '.join(sorted(ID_HEADERS))}; header: {', '.join(row) or 'empty'})")  # fmt: skip
    cols = {name: next((i for i, c in enumerate(lowered) if c in names), -1) for name, names in COLUMNS.items()}
    return found, {k: v for k, v in cols.items() if v >= 0}, row[found].strip()


def import_payments(s: Session, path: Path, campaign: str | None = None, *, strict: bool = False) -> PaymentsReport:
    """Check every line, then mark the contacts paid (the caller commits)."""
    text, _ = decode(path)
    reader = csv_reader(text)
    id_col, cols, id_name = _header(path, next(reader, []))
    campaigns = {c.name: c.id for c in s.scalars(select(Campaign))}
    if campaign is not None and campaign not in campaigns:
        raise PaymentsFileError(f"--campaign: no campaign {campaign!r}")
    report = PaymentsReport(path)
    found: list[Contact] = []
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        report.rows_read += 1
        value = {k: row[i].strip() if i < len(row) else "" for k, i in {"id": id_col, **cols}.items()}
        problem = _check(value, campaign, campaigns)
        if problem:
            report.rejections.append(Rejection(start, *problem))
            continue
        where = [Contact.external_id == value["id"]]
        name = value.get("campaign") or campaign
        if name:
            where.append(Contact.campaign_id == campaigns[name])
        matches = list(s.scalars(select(Contact).where(*where)))
        if not matches:
            report.rejections.append(Rejection(start, id_name, f"no contact {value['id']!r}"
                                               + (f" in campaign {name!r}" if name else "")))  # fmt: skip
            continue
        found += matches
    if strict and report.rejections:
        return report
    now = datetime.now(UTC)
    for contact in {c.id: c for c in found}.values():
        mark_paid(s, contact, now, report)
    log.info("payments import %s: %d lines, %d contacts paid, %d promises kept, %d texts cancelled, %d rejected",
             path, report.rows_read, report.paid, report.promises_kept, report.texts_cancelled,
             len(report.rejections))  # fmt: skip
    return report


def _check(value: dict[str, str], campaign: str | None, campaigns: dict[str, int]) -> tuple[str, str] | None:
    if not value["id"]:
        return "external_id", "missing"
    named = value.get("campaign")
    if named and named not in campaigns:
        return "campaign", f"no campaign {named!r}"
    if named and campaign and named != campaign:
        return "campaign", f"{named!r} is not the campaign given (--campaign {campaign})"
    if value.get("amount"):
        try:
            Decimal(value["amount"].replace(",", "."))
        except InvalidOperation:
            return "amount", f"{value['amount']!r} is not a number"
    if value.get("date"):
        try:
            date.fromisoformat(value["date"])
        except ValueError:
            return "date", f"{value['date']!r} is not a date (YYYY-MM-DD)"
    return None


def mark_paid(s: Session, contact: Contact, now: datetime, report: PaymentsReport) -> None:
    if contact.disposition != Disposition.PAID:
        report.paid += 1
    contact.disposition, contact.next_attempt_at = Disposition.PAID, None
    report.promises_kept += s.execute(update(Promise).where(Promise.contact_id == contact.id,
                                                            Promise.state == PromiseState.OPEN)
                                      .values(state=PromiseState.KEPT, resolved_at=now)).rowcount  # fmt: skip
    report.texts_cancelled += s.execute(update(Sms).where(Sms.contact_id == contact.id, Sms.state == SmsState.QUEUED)
                                        .values(state=SmsState.CANCELLED, error_code="paid", done_at=now)).rowcount  # fmt: skip
