"""SMS texts per language with placeholders (dialer/sms/templates/<lang>.toml), a campaign's own
texts on top ([sms.templates.<lang>]), and the values of one contact written for reading:
amounts as 12.500,00 EUR (es, pl) or 12,500.00 USD (en), dates as 20/11/2026, 20.11.2026 or
11/20/2026, and the payment link built from the campaign's `payment_link` template."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dialer.sms.text import Split, split, transliterate

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PLACEHOLDERS = {
    "name", "amount", "due_date", "concept", "company", "promise_date", "promise_amount", "payment_link",
    "appointment_date", "external_id", "callback_number",
}  # fmt: skip
LINK_PLACEHOLDERS = {"external_id", "contact_id", "amount", "campaign"}
CURRENCY = {"es": "EUR", "en": "USD", "pl": "PLN"}
_MARKS = {"es": (".", ","), "pl": (" ", ","), "en": (",", ".")}  # thousands, decimal


class MessageError(ValueError):
    """A template or a value cannot make a text; the message names the template or the field."""


def placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise MessageError(f"{text!r}: {exc}") from None


def builtin(lang: str) -> dict[str, str]:
    path = TEMPLATE_DIR / f"{lang}.toml"
    if not path.exists():
        raise MessageError(f"no SMS texts for language {lang!r}")
    with path.open("rb") as fh:
        return {k: str(v) for k, v in tomllib.load(fh).items()}


def format_amount(value: Any, lang: str, currency: str) -> str:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise MessageError(f"amount: {value!r} is not a number") from None
    thousands, decimal = _MARKS.get(lang, _MARKS["en"])
    whole, _, cents = f"{amount:,.2f}".partition(".")
    return f"{whole.replace(',', thousands)}{decimal}{cents} {currency}"


def format_date(value: Any, lang: str) -> str:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise MessageError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return {"en": f"{day:%m/%d/%Y}", "pl": f"{day:%d.%m.%Y}"}.get(lang, f"{day:%d/%m/%Y}")


class Messages:
    """One campaign's SMS texts in its language: built-in ones and its own (`sms.templates`)."""

    def __init__(self, lang: str, sms: Mapping[str, Any] | None = None, company: str = "",
                 currency: str | None = None) -> None:  # fmt: skip
        sms = sms or {}
        self.lang = lang
        self.texts = builtin(lang)
        for key, text in ((sms.get("templates") or {}).get(lang) or {}).items():
            unknown = placeholders(str(text)) - PLACEHOLDERS
            if unknown:
                raise MessageError(f"sms.templates.{lang}.{key}: unknown placeholder {{{sorted(unknown)[0]}}}")
            self.texts[key] = str(text)
        self.company = company
        self.currency = currency or CURRENCY.get(lang, "EUR")
        self.link = str(sms.get("payment_link") or "")
        self.plain = bool(sms.get("transliterate", False))

    def values(self, contact: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Placeholder values of one contact (`contact`: name, external_id, contact_id, fields)."""
        fields = dict(contact.get("fields") or {})
        out = {"company": self.company, "external_id": str(contact.get("external_id") or "")}
        if contact.get("name"):
            out["name"] = str(contact["name"])
        if fields.get("concept"):
            out["concept"] = str(fields["concept"])
        if fields.get("amount") not in (None, ""):
            out["amount"] = format_amount(fields["amount"], self.lang, self.currency)
        for field in ("due_date", "appointment_date"):
            if fields.get(field) not in (None, ""):
                out[field] = format_date(fields[field], self.lang)
        extra = dict(extra or {})
        if extra.get("promise_date"):
            out["promise_date"] = format_date(extra["promise_date"], self.lang)
        if extra.get("callback_number"):  # a return call cut short: the number to call (dialer.ivr.return_calls)
            out["callback_number"] = str(extra["callback_number"])
        promised = extra.get("promise_amount") or fields.get("amount")
        if promised not in (None, ""):
            out["promise_amount"] = format_amount(promised, self.lang, self.currency)
        if self.link:
            link_values = {"external_id": out["external_id"], "contact_id": str(contact.get("contact_id") or ""),
                           "amount": str(fields.get("amount") or ""), "campaign": str(contact.get("campaign") or "")}
            out["payment_link"] = self.link.format(**{k: quote(v, safe="") for k, v in link_values.items()})
        return out

    def render(self, key: str, values: Mapping[str, str]) -> str:
        """The text of template `key` with its placeholders filled in (transliterated if asked)."""
        if key not in self.texts:
            raise MessageError(f"sms.templates.{self.lang}: no template {key!r} (have: {', '.join(sorted(self.texts))})")
        template = self.texts[key]
        missing = placeholders(template) - set(values)
        if missing:
            raise MessageError(f"sms.templates.{self.lang}.{key}: no value for {{{sorted(missing)[0]}}}")
        text = template.format(**values)
        return transliterate(text) if self.plain else text

    def sample(self, key: str) -> Split:
        """The parts of template `key` with sample values (for `campaign create`)."""
        sample = {"name": "María José Fernández", "amount": format_amount("12500", self.lang, self.currency),
                  "due_date": format_date("2026-11-20", self.lang), "concept": "Factura 2026-11",
                  "company": self.company or "Company", "promise_date": format_date("2026-11-25", self.lang),
                  "promise_amount": format_amount("12500", self.lang, self.currency),
                  "payment_link": self.link.format(external_id="C000123", contact_id="123", amount="12500",
                                                   campaign="c") if self.link else "https://pay.example/C000123",
                  "appointment_date": format_date("2026-11-20", self.lang), "external_id": "C000123",
                  "callback_number": "+34910000001"}  # fmt: skip
        return split(self.render(key, sample))
