"""Do-not-call lists from a file into the `dnc` table, checked at dial time by every campaign.

A file is either one number per line (lines starting with # are comments) or a CSV whose header
names a number column (number, phone, telefono, numero, msisdn, ...) and, optionally, a reason
column. Every line is imported or rejected as FILE:LINE: FIELD: REASON. Numbers already on the
list keep their first source. The accepted numbers go in one transaction; with `strict`, one
rejected line rejects the whole file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dialer.campaigns.csv_files import Rejection, csv_reader, decode
from dialer.campaigns.numbers import normalise
from dialer.storage.models import Dnc

log = logging.getLogger(__name__)
NUMBER_HEADERS = {
    "number",
    "phone",
    "telefono",
    "teléfono",
    "numero",
    "número",
    "msisdn",
    "e164",
    "telefon",
    "celular",
    "linea",
    "línea",
}
REASON_HEADERS = {"reason", "motivo", "powod", "powód"}
CHUNK = 5000


@dataclass
class DncReport:
    path: Path
    rows_read: int = 0
    added: int = 0
    already: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"{self.path}:{r.line}: {r.field}: {r.reason}" for r in self.rejections]


def _rows(path: Path, text: str) -> tuple[str, list[tuple[int, str, str | None]]]:
    """(number field name, [(line, number, reason)]) from a CSV with a header or a plain list."""
    reader = csv_reader(text)
    first = next(reader, None)
    lowered = [c.strip().lower() for c in first or []]
    number_col = next((i for i, c in enumerate(lowered) if c in NUMBER_HEADERS), None)
    if number_col is None:  # no header: the first field of each line is the number
        reader, number_col, reason_col, name = csv_reader(text), 0, None, "number"
    else:
        reason_col = next((i for i, c in enumerate(lowered) if c in REASON_HEADERS), None)
        name = (first or [])[number_col].strip()
    out: list[tuple[int, str, str | None]] = []
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        number = row[number_col].strip() if number_col < len(row) else ""
        reason = row[reason_col].strip() or None if reason_col is not None and reason_col < len(row) else None
        out.append((start, number, reason))
    return name, out


def import_dnc(session: Session, path: Path, source: str, region: str, *, strict: bool = False) -> DncReport:
    """Validate every line and insert the new numbers (the caller commits)."""
    if not source.strip():
        raise ValueError("--source: a list name is needed (e.g. registro-no-llame)")
    text, _ = decode(path)
    name, rows = _rows(path, text)
    report = DncReport(path)
    seen: dict[str, int] = {}
    accepted: list[dict[str, object]] = []
    now = datetime.now(UTC)
    for line, raw, reason in rows:
        report.rows_read += 1
        if not raw:
            report.rejections.append(Rejection(line, name, "missing"))
            continue
        e164, _type, problem = normalise(raw, region)
        if problem:
            report.rejections.append(Rejection(line, name, problem))
        elif e164 in seen:
            report.already += 1  # listed twice in one file: harmless
        else:
            seen[e164] = line
            accepted.append({"number": e164, "source": source, "reason": reason, "added_at": now})
    if strict and report.rejections:
        return report
    numbers = [a["number"] for a in accepted]
    existing: set[str] = set()
    for i in range(0, len(numbers), CHUNK):
        existing.update(session.scalars(select(Dnc.number).where(Dnc.number.in_(numbers[i : i + CHUNK]))))
    new = [a for a in accepted if a["number"] not in existing]
    for i in range(0, len(new), CHUNK):
        session.execute(insert(Dnc), new[i : i + CHUNK])
    report.added, report.already = len(new), report.already + len(existing)
    log.info(
        "dnc import %s (%s): %d lines, %d added, %d already listed, %d rejected",
        path,
        source,
        report.rows_read,
        report.added,
        report.already,
        len(report.rejections),
    )
    return report
