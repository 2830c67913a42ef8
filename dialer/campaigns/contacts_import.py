"""Contacts from a CSV file into a campaign.

Every row is either imported or rejected with its line, field and reason: rows read =
imported + rejected, always. The accepted rows of one file go in one transaction (all of them
or, on any database error, none); with `strict`, one rejected row rejects the whole file.
UTF-8 (with or without BOM) and Latin-1 are read; the delimiter (, ; or tab) is detected.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dialer.domain import PhoneType
from dialer.storage.models import Campaign, Contact, Phone

log = logging.getLogger(__name__)

CHUNK = 5000  # contacts per INSERT
# an accepted row: external id, name, time zone, custom fields, [(E.164, type)]
_Row = tuple[str, str | None, str | None, dict[str, str], list[tuple[str, PhoneType]]]

# header (lower case) -> contact attribute; "phone" headers are phone columns in file order.
HEADER_ALIASES: dict[str, str] = {
    "id": "external_id", "external_id": "external_id", "contact_id": "external_id",
    "customer_id": "external_id", "cliente": "external_id", "nro_cliente": "external_id",
    "name": "name", "nombre": "name", "imie": "name", "imię": "name", "nazwisko": "name",
    "timezone": "timezone", "tz": "timezone", "zona_horaria": "timezone",
    "phone": "phone", "phone1": "phone", "phone2": "phone", "phone3": "phone", "mobile": "phone",
    "telefono": "phone", "telefono1": "phone", "telefono2": "phone", "telefono3": "phone",
    "celular": "phone", "movil": "phone", "móvil": "phone", "telefon": "phone", "telefon1": "phone",
    "telefon2": "phone", "komorka": "phone", "komórka": "phone",
}  # fmt: skip
TARGETS = {"external_id", "name", "timezone", "phone"}
PHONE_TYPES = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.FIXED,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneType.OTHER,
    PhoneNumberType.VOIP: PhoneType.VOIP,
}


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, no header, unknown mapping)."""


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    path: Path
    rows_read: int = 0
    imported: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    encoding: str = "utf-8"
    dry_run: bool = False

    @property
    def rejected(self) -> int:
        return len({r.line for r in self.rejections})

    def lines(self) -> Iterator[str]:
        for r in self.rejections:
            yield f"{self.path}:{r.line}: {r.field}: {r.reason}"


def _decode(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def csv_reader(text: str) -> Any:
    """A csv reader with the delimiter (, ; or tab) detected from the start of the text."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text), dialect)


def _columns(header: list[str], mapping: Mapping[str, str], path: Path) -> list[str]:
    """The target of every column: a contact attribute, "phone", or "fields.<name>"."""
    targets = []
    for name in header:
        key = name.strip()
        target = mapping.get(key) or HEADER_ALIASES.get(key.lower()) or f"fields.{key}"
        if target not in TARGETS and not target.startswith("fields."):
            raise CsvFileError(f"{path}:1: mapping {key}={target}: unknown field (use one of {sorted(TARGETS)})")
        targets.append(target)
    if "external_id" not in targets:
        raise CsvFileError(f"{path}:1: no id column (name it id, or map one: --map COLUMN=external_id)")
    if "phone" not in targets:
        raise CsvFileError(f"{path}:1: no phone column (name it phone, or map one: --map COLUMN=phone)")
    return targets


def import_contacts(
    session: Session,
    campaign: Campaign,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    strict: bool = False,
) -> ImportReport:
    """Validate every row and add the accepted ones to the session (the caller commits)."""
    text, encoding = _decode(path)
    report = ImportReport(path=path, encoding=encoding, dry_run=dry_run)
    reader = csv_reader(text)
    header = next(reader, None)
    if not header:
        raise CsvFileError(f"{path}:1: empty file, expected a header row")
    targets = _columns(header, mapping or {}, path)
    existing = set(session.scalars(select(Contact.external_id).where(Contact.campaign_id == campaign.id)))
    seen_ids: dict[str, int] = {}
    seen_numbers: dict[str, int] = {}
    now = datetime.now(UTC)
    accepted: list[_Row] = []  # plain tuples, not ORM objects: a million rows must fit in memory

    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num  # a quoted field may span lines: report its first
        if not any(cell.strip() for cell in row):
            continue
        report.rows_read += 1
        problems: list[Rejection] = []
        if len(row) != len(header):
            problems.append(Rejection(start, "row", f"{len(row)} fields, the header has {len(header)}"))
        values = dict(zip(header, row, strict=False))
        attrs: dict[str, str | None] = {}
        custom: dict[str, str] = {}
        numbers: list[tuple[str, str]] = []
        for column, target in zip(header, targets, strict=False):
            value = values.get(column, "").strip()
            if target == "phone":
                if value:
                    numbers.append((column, value))
            elif target.startswith("fields."):
                if value:
                    custom[target.removeprefix("fields.")] = value
            else:
                attrs[target] = value or None
        ext = attrs.get("external_id") or ""
        if not ext:
            problems.append(Rejection(start, "external_id", "missing"))
        elif ext in seen_ids:
            problems.append(Rejection(start, "external_id", f"{ext!r} repeats line {seen_ids[ext]}"))
        elif ext in existing:
            problems.append(Rejection(start, "external_id", f"{ext!r} is already in campaign {campaign.name!r}"))
        phones: list[tuple[str, PhoneType]] = []
        for column, value in numbers:
            e164, ptype, problem = _normalise(value, campaign.default_region)
            if problem:
                problems.append(Rejection(start, column, problem))
            elif e164 in seen_numbers:
                problems.append(Rejection(start, column, f"{e164} repeats line {seen_numbers[e164]}"))
            elif any(number == e164 for number, _ in phones):
                problems.append(Rejection(start, column, f"{e164} appears twice in this row"))
            else:
                phones.append((e164, ptype))
        if not numbers:
            problems.append(Rejection(start, "phone", "no phone number"))
        if problems:
            report.rejections.extend(problems)
            continue
        seen_ids[ext] = start
        for number, _ in phones:
            seen_numbers[number] = start
        accepted.append((ext, attrs.get("name"), attrs.get("timezone"), custom, phones))

    if strict and report.rejections:
        accepted = []
    report.imported = len(accepted)
    if not dry_run:
        _insert(session, campaign.id, accepted, now)
    log.info("import %s: %d rows read, %d imported, %d rejected", path, report.rows_read, report.imported,
             report.rejected)  # fmt: skip
    return report


def _insert(session: Session, campaign_id: int, rows: list[_Row], now: datetime) -> None:
    """Bulk INSERTs in chunks (contacts with RETURNING of their ids, then their phones), in the
    caller's transaction."""
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        ids = session.scalars(
            insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
            [{"campaign_id": campaign_id, "external_id": ext, "name": name, "timezone": tz, "fields": custom,
              "created_at": now} for ext, name, tz, custom, _ in chunk],  # fmt: skip
        ).all()
        phones = [{"contact_id": cid, "number": number, "type": ptype, "position": position}
                  for cid, row in zip(ids, chunk, strict=True) for position, (number, ptype) in enumerate(row[4])]  # fmt: skip
        session.execute(insert(Phone), phones)


def _normalise(value: str, region: str) -> tuple[str, PhoneType, str | None]:
    """(E.164, type, problem) for one number as written in the file."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        return "", PhoneType.OTHER, f"{value!r} is not a phone number ({exc._msg})"
    if not phonenumbers.is_valid_number(parsed):
        return "", PhoneType.OTHER, f"{value!r} is not a valid number in region {region}"
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, PHONE_TYPES.get(phonenumbers.number_type(parsed), PhoneType.OTHER), None
