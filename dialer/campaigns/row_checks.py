"""What one CSV row says on its own: its contact (id, name, zone, fields in their stored form,
phones in E.164) or every problem it has, at once. Pure and picklable, so an import runs it in
worker processes; checks across rows and against the database stay with the importer.

A file's columns are read the same way on every row, so the work per column is decided once per
file (`_plan`) and a row only runs its columns' readers; dates repeat (a bill run has a few due
dates), so a date is read once per text (a bounded cache)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from dialer.campaigns.csv_files import Rejection
from dialer.campaigns.numbers import normalise as normalise_number
from dialer.campaigns.values import DATE_FIELDS, ValueProblem, normalise


class Checked(NamedTuple):
    """One row as checked on its own; plain values only, so a chunk pickles fast between processes."""

    line: int  # the row's first line in the file
    external_id: str
    name: str | None
    timezone: str | None
    fields: str  # the stored form: JSON text, encoded here (in the worker, not the writing process)
    phones: list[tuple[str, str, str]]  # (E.164, its type's value, column)
    problems: list[Rejection]
    debt_id: str | None


@dataclass(frozen=True)
class RowSpec:
    """How to read the rows of one file: its header, each column's target (an attribute, "phone"
    or "fields.<name>"), the values the campaign's prompts say, its language and region."""

    header: tuple[str, ...]
    targets: tuple[str, ...]
    spoken: frozenset[str]
    lang: str
    region: str


PHONE, FIELD, ATTRIBUTE = 0, 1, 2
Reader = Callable[[str], str]  # a field's text to its stored form; raises ValueProblem


@lru_cache(maxsize=8192)
def _date(field: str, text: str, lang: str) -> str:
    return normalise(field, text, lang)


def _reader(name: str, lang: str) -> Reader:
    if name in DATE_FIELDS:
        return lambda text: _date(name, text, lang)
    return lambda text: normalise(name, text, lang)


Plan = tuple[list[tuple[int, str, int, str, Reader | None]], list[str]]


@lru_cache(maxsize=16)
def _plan(spec: RowSpec) -> Plan:
    """Per column: (index, column name, kind, attribute or field name, the field's reader); and the
    spoken values in the order their absence is reported."""
    plan: list[tuple[int, str, int, str, Reader | None]] = []
    for index, (column, target) in enumerate(zip(spec.header, spec.targets, strict=True)):
        if target == "phone":
            plan.append((index, column, PHONE, "", None))
        elif target.startswith("fields."):
            plan.append((index, column, FIELD, target[7:], _reader(target[7:], spec.lang)))
        else:
            plan.append((index, column, ATTRIBUTE, target, None))
    return plan, sorted(spec.spoken)


# Checked's fields as a plain tuple: what workers send back (a named tuple pickles at half the speed)
Row = tuple[int, str, "str | None", "str | None", str, list[tuple[str, str, str]], list[Rejection], "str | None"]


def check_text(spec: RowSpec, params: dict[str, Any], first: int, text: str) -> tuple[int, list[Row]]:
    """The records of a file's text that starts on line `first` (see csv_files.Records): how many
    rows were not blank, and each one checked."""
    reader = csv.reader(io.StringIO(text, newline=""), **params)
    rows: list[Row] = []
    line = 0
    for cells in reader:
        start, line = first + line, reader.line_num
        if cells and (cells[0].strip() or any(cell.strip() for cell in cells)):
            rows.append(_check(spec, start, cells))
    return len(rows), rows


def check_row(spec: RowSpec, line: int, row: list[str]) -> Checked:
    return Checked._make(_check(spec, line, row))


def _check(spec: RowSpec, line: int, row: list[str]) -> Row:
    problems: list[Rejection] = []
    width = len(row)
    if width != len(spec.header):
        problems.append(Rejection(line, "row", f"{width} fields, the header has {len(spec.header)}"))
    attrs: dict[str, str] = {}
    custom: dict[str, str] = {}
    phones: list[tuple[str, str, str]] = []
    unreadable: list[str] = []
    numbers_written = False
    columns, spoken = _plan(spec)
    for index, column, kind, name, read in columns:
        if index >= width:
            break
        value = row[index].strip()
        if not value:
            continue
        if kind == PHONE:
            numbers_written = True
            e164, ptype, problem = normalise_number(value, spec.region)
            if problem:
                problems.append(Rejection(line, column, problem))
            elif any(number == e164 for number, _, _ in phones):
                problems.append(Rejection(line, column, f"{e164} appears twice in this row"))
            else:
                phones.append((e164, ptype.value, column))
        elif kind == FIELD:
            try:
                custom[name] = read(value)  # type: ignore[misc]
            except ValueProblem as exc:
                unreadable.append(name)
                problems.append(Rejection(line, column, str(exc)))
        else:
            attrs[name] = value
    for name in spoken:
        if not (attrs.get("name") if name == "name" else custom.get(name)) and name not in unreadable:
            problems.append(Rejection(line, name, f"missing (the campaign's prompts say {{{name}}})"))
    ext = attrs.get("external_id", "")
    if not ext:
        problems.append(Rejection(line, "external_id", "missing"))
    if not numbers_written:
        problems.append(Rejection(line, "phone", "no phone number"))
    return line, ext, attrs.get("name"), attrs.get("timezone"), _json(custom), phones, problems, attrs.get("debt_id")


def _json(fields: dict[str, str]) -> str:
    """json.dumps(fields, ensure_ascii=False) for a dict of strings, without building an encoder."""
    return "{" + ", ".join([f"{encode_basestring(k)}: {encode_basestring(v)}" for k, v in fields.items()]) + "}"
