"""Contacts from a CSV file into a campaign, streamed: memory stays flat whatever the file's size.

Every row is either imported or rejected with its line, field and reason: rows read =
imported + rejected, always. Rows go to SQL in chunks inside the caller's transaction (all of
them or, on any database error, none); with `strict`, one rejected row rejects the whole file:
the rows written before it are deleted again in the same transaction, so nothing is held in
memory to get all-or-nothing. The import knows the campaign: the values its prompts say (name,
amount, due date, ...) must be there and readable in its language, every problem of a row at
once (dialer.campaigns.row_checks). Large files are cut into texts of whole records that worker
processes read and check, one per core (dialer.campaigns.row_pool), while this process checks
across rows (repeated ids and numbers, ids already in the campaign: dialer.campaigns.across_rows)
and writes (dialer.campaigns.contact_writer). A million rows: ~17 µs a row here and ~16 µs in
the workers (bench/million.py).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from dialer.campaigns.across_rows import AcrossRows
from dialer.campaigns.contact_writer import ContactWriter
from dialer.campaigns.csv_files import CsvFileError, Rejection, open_records
from dialer.campaigns.row_checks import RowSpec
from dialer.campaigns.row_pool import RowPool
from dialer.campaigns.values import FIELD_ALIASES
from dialer.ivr.flow import FlowError
from dialer.ivr.prerender import book_for
from dialer.storage.models import Campaign
from prompts.templates import TemplateError

__all__ = ["CsvFileError", "ImportReport", "Rejection", "import_contacts"]

log = logging.getLogger(__name__)

CHUNK = 10_000  # rows per batch of numbers and per INSERT
PARALLEL_MIN_BYTES = 4 << 20  # files from this size parse their numbers in worker processes

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
    "debt_id": "debt_id", "loan_id": "debt_id", "account": "debt_id", "account_id": "debt_id",
    "id_deuda": "debt_id", "deuda_id": "debt_id", "nro_deuda": "debt_id", "credito": "debt_id", "crédito": "debt_id",
    "prestamo": "debt_id", "préstamo": "debt_id", "nr_umowy": "debt_id", "numer_umowy": "debt_id",
    **{alias: f"fields.{target}" for alias, target in FIELD_ALIASES.items()},
}  # fmt: skip
TARGETS = {"external_id", "name", "timezone", "phone", "debt_id"}


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


def column_target(name: str, mapping: Mapping[str, str], path: Path) -> str:
    """A column's target: a contact attribute, "phone", or "fields.<name>" (any field may be mapped)."""
    key = name.strip()
    target = mapping.get(key)
    if target is None:
        return HEADER_ALIASES.get(key.lower()) or f"fields.{key}"
    target = target.removeprefix("fields.")
    if target in TARGETS:
        return target
    if not target.isidentifier():
        raise CsvFileError(f"{path}:1: mapping {key}={target}: unknown field (use one of {sorted(TARGETS)} "
                           "or a field name such as amount)")  # fmt: skip
    return f"fields.{target}"


def _columns(header: list[str], mapping: Mapping[str, str], path: Path) -> list[str]:
    targets = [column_target(name, mapping, path) for name in header]
    if "external_id" not in targets:
        raise CsvFileError(f"{path}:1: no id column (name it id, or map one: --map COLUMN=external_id)")
    if "phone" not in targets:
        raise CsvFileError(f"{path}:1: no phone column (name it phone, or map one: --map COLUMN=phone)")
    return targets


def spoken_fields(campaign: Campaign, path: Path) -> set[str]:
    """The contact values the campaign's prompts say (each row must have them)."""
    try:
        return book_for(campaign).contact_fields()
    except (FlowError, TemplateError) as exc:
        raise CsvFileError(f"{path}: campaign {campaign.name}: {exc}") from None


def import_contacts(
    session: Session,
    campaign: Campaign,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    strict: bool = False,
    workers: int | None = None,
) -> ImportReport:
    """Check every row and write the accepted ones in the session's transaction (the caller commits).
    `workers`: processes that check rows (default: one per core for files of 4 MB and more).
    The cyclic garbage collector is off meanwhile (the rows make no cycles; its passes over the
    rows in flight cost ~15% of the importer's time), here and in the forked workers."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import(session, campaign, path, mapping, dry_run, strict, workers)
    finally:
        if collecting:
            gc.enable()


def _import(session: Session, campaign: Campaign, path: Path, mapping: Mapping[str, str] | None, dry_run: bool,
            strict: bool, workers: int | None) -> ImportReport:  # fmt: skip
    spoken = spoken_fields(campaign, path)
    with open_records(path) as (records, params, encoding):
        report = ImportReport(path=path, encoding=encoding, dry_run=dry_run)
        header = records.header()
        if not header:
            raise CsvFileError(f"{path}:1: empty file, expected a header row")
        targets = _columns(header, mapping or {}, path)
        spec = RowSpec(tuple(header), tuple(targets), frozenset(spoken), campaign.language, campaign.default_region)
        across = AcrossRows(session, campaign)
        writer = ContactWriter(session, campaign.id)
        if workers is None:
            workers = (os.cpu_count() or 1) if path.stat().st_size >= PARALLEL_MIN_BYTES else 0
        with RowPool(spec, params, workers) as pool:
            for rows_read, checked in pool.checked(records.texts(CHUNK)):
                report.rows_read += rows_read
                accepted = across.check(checked)
                for row in checked:
                    report.rejections.extend(row[6])
                report.imported += len(accepted)
                if not dry_run and not (strict and report.rejections):
                    writer.write(accepted)
    if strict and report.rejections:
        report.imported = 0
        writer.undo()
    log.info("import %s: %d rows read, %d imported, %d rejected", path, report.rows_read, report.imported,
             report.rejected)  # fmt: skip
    return report
