"""What one CSV row says on its own: its contact (id, name, zone, fields in their stored form,
phones in E.164) or every problem it has, at once. Pure and picklable, so an import runs it in
worker processes; checks across rows and against the database stay with the importer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from dialer.campaigns.csv_files import Rejection
from dialer.campaigns.numbers import normalise as normalise_number
from dialer.campaigns.values import ValueProblem, normalise

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


def check_rows(spec: RowSpec, rows: list[tuple[int, list[str]]]) -> list[Checked]:
    return [check_row(spec, line, row) for line, row in rows]


def check_row(spec: RowSpec, line: int, row: list[str]) -> Checked:
    problems: list[Rejection] = []
    if len(row) != len(spec.header):
        problems.append(Rejection(line, "row", f"{len(row)} fields, the header has {len(spec.header)}"))
    attrs: dict[str, str] = {}
    custom: dict[str, str] = {}
    phones: list[tuple[str, str, str]] = []
    unreadable: set[str] = set()
    numbers_written = False
    for column, target, cell in zip(spec.header, spec.targets, row, strict=False):
        value = cell.strip()
        if not value:
            continue
        if target == "phone":
            numbers_written = True
            e164, ptype, problem = normalise_number(value, spec.region)
            if problem:
                problems.append(Rejection(line, column, problem))
            elif any(number == e164 for number, _, _ in phones):
                problems.append(Rejection(line, column, f"{e164} appears twice in this row"))
            else:
                phones.append((e164, ptype.value, column))
        elif target.startswith("fields."):
            name = target[7:]
            try:
                custom[name] = normalise(name, value, spec.lang)
            except ValueProblem as exc:
                unreadable.add(name)
                problems.append(Rejection(line, column, str(exc)))
        else:
            attrs[target] = value
    for name in sorted(spec.spoken - unreadable):
        if not (attrs.get("name") if name == "name" else custom.get(name)):
            problems.append(Rejection(line, name, f"missing (the campaign's prompts say {{{name}}})"))
    ext = attrs.get("external_id", "")
    if not ext:
        problems.append(Rejection(line, "external_id", "missing"))
    if not numbers_written:
        problems.append(Rejection(line, "phone", "no phone number"))
    return Checked(line, ext, attrs.get("name"), attrs.get("timezone"), json.dumps(custom, ensure_ascii=False), phones,
                   problems, attrs.get("debt_id"))  # fmt: skip
