"""Contact values the flows speak, as operators' files write them: amounts in the campaign's
locale ("12.500,50" in es and pl, "12,500.50" in en), dates in the usual forms, and the column
names those files use for them (es, en, pl).

Values are stored in one form whatever the file said: amounts as a plain decimal ("12500.50"),
dates as ISO 8601 ("2026-12-20"), so prompts and reports read them the same way.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

AMOUNT_FIELDS = ("amount",)
DATE_FIELDS = ("due_date", "appointment_date")

# header (lower case, accents kept) -> field; attributes (external_id, name, ...) are in contacts_import
FIELD_ALIASES: dict[str, str] = {
    **dict.fromkeys(("amount", "balance", "debt", "due_amount", "amount_due", "total", "importe", "monto",
                     "deuda", "saldo", "importe_deuda", "monto_adeudado", "kwota", "kwota_zadluzenia",
                     "kwota_zadłużenia", "zadluzenie", "zadłużenie", "saldo_zadluzenia"), "amount"),
    **dict.fromkeys(("due_date", "due", "duedate", "due_by", "vencimiento", "fecha_vencimiento",
                     "fecha_de_vencimiento", "f_vencimiento", "vence", "termin", "termin_platnosci",
                     "termin_płatności", "data_platnosci", "data_płatności"), "due_date"),
    **dict.fromkeys(("concept", "description", "reference", "concepto", "descripcion", "descripción",
                     "detalle", "referencia", "tytul", "tytuł", "tytul_platnosci", "tytuł_płatności",
                     "opis"), "concept"),
    **dict.fromkeys(("appointment_date", "appointment", "cita", "fecha_cita", "fecha_de_cita", "turno",
                     "wizyta", "termin_wizyty", "data_wizyty"), "appointment_date"),
}  # fmt: skip

# decimal separator by language; the other separators group thousands
DECIMAL_MARK = {"es": ",", "pl": ",", "en": "."}
# the order of day, month and year in dates written with / - or .
DATE_ORDER = {"es": "dmy", "pl": "dmy", "en": "mdy"}
EXAMPLE_AMOUNT = {",": "12.500,50", ".": "12,500.50"}

_SPACES = re.compile(r"[\s\u00a0\u202f']")  # group separators written as spaces (or a Swiss ')
_EDGES = re.compile(r"^[^\d+\-.,]+|[^\d.,]+$")  # currency signs and codes before or after the number
_NUMBER = re.compile(r"^[+-]?\d[\d.,]*$")
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")
_DMY = re.compile(r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})$")


# an amount as most files write it: digits grouped in threes or not, and the locale's decimal mark
_PLAIN_AMOUNT = {mark: re.compile(rf"([0-9]{{1,3}}(?:{re.escape(group)}[0-9]{{3}})+|[0-9]+)(?:{re.escape(mark)}([0-9]+))?")
                 for mark, group in ((",", "."), (".", ","))}  # fmt: skip


class ValueProblem(ValueError):
    """The value cannot be read; the message says what was expected."""


def parse_amount(text: str, lang: str) -> Decimal:
    """An amount as the campaign's locale writes it; grouping is accepted only in groups of three."""
    mark = DECIMAL_MARK.get(lang, ".")
    plain = _PLAIN_AMOUNT[mark].fullmatch(text)
    if plain is not None:  # what the general reading below gives such a text, without its steps
        whole, fraction = plain.groups()
        return Decimal(f"{whole.replace(',' if mark == '.' else '.', '')}.{fraction}" if fraction
                       else whole.replace("," if mark == "." else ".", ""))  # fmt: skip
    return read_amount(text, mark)


def read_amount(text: str, mark: str) -> Decimal:
    """parse_amount's general reading: signs, currency, spaces, either mark (`mark` is the locale's)."""
    raw = _EDGES.sub("", _SPACES.sub("", text.strip()))
    if not raw or not _NUMBER.match(raw):
        raise ValueProblem(f"{text!r} is not an amount (for example {EXAMPLE_AMOUNT[mark]})")
    sign = "-" if raw.startswith("-") else ""
    body = raw.lstrip("+-")
    dots, commas = body.count("."), body.count(",")
    if dots and commas:  # both: the last one is the decimal mark
        point = "." if body.rfind(".") > body.rfind(",") else ","
    elif dots + commas == 0:
        point = ""
    else:
        sep = "." if dots else ","
        once = body.count(sep) == 1
        tail = len(body) - body.rfind(sep) - 1
        # one separator: the locale's mark is decimal; the other is grouping only before 3 digits
        point = sep if once and (sep == mark or tail != 3) else ""
    whole, _, fraction = body.rpartition(point) if point else (body, "", "")
    if whole and not (whole.isdigit() or _GROUPED.match(whole)):
        raise ValueProblem(f"{text!r} is not an amount (for example {EXAMPLE_AMOUNT[mark]})")
    digits = whole.replace(".", "").replace(",", "")
    if not digits or (fraction and not fraction.isdigit()):
        raise ValueProblem(f"{text!r} is not an amount (for example {EXAMPLE_AMOUNT[mark]})")
    try:
        value = Decimal(f"{sign}{digits}.{fraction}" if fraction else f"{sign}{digits}")
    except InvalidOperation:
        raise ValueProblem(f"{text!r} is not an amount") from None
    if value < 0:
        raise ValueProblem(f"{text!r} is negative")
    return value


def parse_date(text: str, lang: str) -> date:
    """ISO dates (2026-12-20, 2026-12-20T00:00) anywhere; 20/12/2026, 20-12-2026 and 20.12.2026 in
    es and pl; 12/20/2026 in en."""
    raw = text.strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw).date()
    except ValueError:
        pass
    order = DATE_ORDER.get(lang, "dmy")
    example = "20/12/2026" if order == "dmy" else "12/20/2026"
    found = _DMY.match(raw)
    if not found:
        raise ValueProblem(f"{text!r} is not a date (for example {example} or 2026-12-20)")
    a, b, c = (int(x) for x in found.groups())
    if len(found.group(1)) == 4:  # 2026/12/20
        year, month, day = a, b, c
    elif len(found.group(3)) == 4:
        day, month, year = (a, b, c) if order == "dmy" else (b, a, c)
    else:
        raise ValueProblem(f"{text!r}: write the year with four digits (for example {example})")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueProblem(f"{text!r} is not a date ({'day/month/year' if order == 'dmy' else 'month/day/year'})") from None


def normalise(field: str, text: str, lang: str) -> str:
    """The stored form of a field's value (amounts and dates checked; other fields as written)."""
    if field in AMOUNT_FIELDS:
        return str(parse_amount(text, lang))
    if field in DATE_FIELDS:
        return parse_date(text, lang).isoformat()
    return text
