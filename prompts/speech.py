"""Amounts and dates as a native speaker says them, in es, en and pl.

    say_amount(Decimal("12500"), "ARS", "es") -> "doce mil quinientos pesos"
    say_date(date(2026, 11, 20), "es")         -> "el veinte de noviembre"
    say_date(date(2026, 11, 20), "pl")         -> "dwudziestego listopada"
Numbers come from num2words; what it leaves unsaid or says oddly (zero cents, "un millón de",
ordinal cases, commas inside English numbers) is fixed here.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words

LANGS = ("es", "en", "pl")
MONTHS = {
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    # genitive: "dwudziestego listopada"
    "pl": ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
           "października", "listopada", "grudnia"],
}  # fmt: skip
ZERO_CENTS = {
    "es": re.compile(r" con cero (céntimos|centavos|centimos)$"),
    "en": re.compile(r", zero cents$"),
    "pl": re.compile(r", zero groszy$"),
}


CENTS = {  # how the cents join the units, and the last word of a cents phrase
    "es": (" con ", {"centavo", "centavos", "céntimo", "céntimos"}),
    "en": (" and ", {"cent", "cents", "penny", "pence"}),
    "pl": (", ", {"grosz", "grosze", "groszy"}),
}


class SpeechError(ValueError):
    """A value this module cannot say (unknown language or currency, negative amount)."""


def _check(lang: str) -> None:
    if lang not in LANGS:
        raise SpeechError(f"language {lang!r}: one of {', '.join(LANGS)}")


def say_number(value: int, lang: str) -> str:
    _check(lang)
    return str(num2words(value, lang=lang)).replace(",", "")


def say_amount(amount: Decimal | str | int, currency: str, lang: str) -> str:
    """Money in the campaign's currency, e.g. "doce mil quinientos pesos con cincuenta centavos"."""
    _check(lang)
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value < 0:
        raise SpeechError(f"amount {amount}: negative amounts are not spoken")
    try:
        words = str(num2words(value, lang=lang, to="currency", currency=currency.upper()))
    except NotImplementedError:
        raise SpeechError(f"currency {currency!r} is not known in {lang}") from None
    words = ZERO_CENTS[lang].sub("", words)
    if lang == "es":  # "un millón de pesos", "dos millones de pesos"
        words = re.sub(r"\b(millón|millones) (?!de )(?=\w+$|\w+ con )", r"\1 de ", words)
    if lang == "en":
        words = words.replace(",", "")
        words = re.sub(r" (dollars?|euros?|pounds?) (?=\w)", r" \1 and ", words, count=1)
    return words


def say_date(day: date, lang: str) -> str:
    """A due date as said in a sentence: "el veinte de noviembre", "November twentieth"."""
    _check(lang)
    month = MONTHS[lang][day.month - 1]
    if lang == "es":
        number = "primero" if day.day == 1 else str(num2words(day.day, lang="es"))
        return f"el {number} de {month}"
    if lang == "en":
        return f"{month} {num2words(day.day, lang='en', to='ordinal')}"
    ordinal = str(num2words(day.day, lang="pl", to="ordinal"))
    return f"{_pl_genitive(ordinal)} {month}"


def _pl_genitive(ordinal: str) -> str:
    """Masculine ordinal to genitive, word by word: dwudziesty pierwszy -> dwudziestego pierwszego."""
    out = []
    for word in ordinal.split():
        if word.endswith("y"):
            word = word[:-1] + "ego"
        elif word.endswith("i"):
            word = word + "ego"
        out.append(word)
    return " ".join(out)


def amount_phrases(words: str, lang: str) -> list[str]:
    """An amount in words as phrases: units, then cents if any; joined by spaces they give `words`.

    "doce mil quinientos pesos con cincuenta centavos" -> ["doce mil quinientos pesos",
    "con cincuenta centavos"]; an amount without cents (or an unknown cents word) stays whole.
    """
    if lang not in CENTS:
        return [words]
    join, cents = CENTS[lang]
    head, found, tail = words.rpartition(join)
    if not (found and head and tail.split() and tail.split()[-1] in cents):
        return [words]
    if join == ", ":
        return [head + ",", tail]
    return [head, f"{join.strip()} {tail}"]


SCALES = {  # the words that close a group of an amount said in groups
    "es": {"mil", "millón", "millones", "billón", "billones"},
    "en": {"thousand", "million", "billion", "trillion"},
    "pl": {"tysiąc", "tysiące", "tysięcy", "milion", "miliony", "milionów", "miliard", "miliardy", "miliardów"},
}


def amount_groups(phrase: str, lang: str) -> list[str]:
    """An amount's phrase in the groups that repeat across amounts; joined by spaces, `phrase`.

    "catorce mil quinientos veinticinco pesos" -> ["catorce mil", "quinientos veinticinco pesos"];
    "un millón de pesos" -> ["un millón de", "pesos"]; a phrase without a scale word stays whole.
    """
    scales = SCALES.get(lang, set())
    words = phrase.split()
    groups: list[list[str]] = [[]]
    for word, after in zip(words, [*words[1:], ""]):
        groups[-1].append(word)
        scale = word.rstrip(",").lower() in scales
        de_after_scale = word == "de" and len(groups[-1]) > 1 and groups[-1][-2].lower() in scales
        if (scale and after != "de") or de_after_scale:  # "un millón de" | "pesos"
            groups.append([])
    return [" ".join(group) for group in groups if group]


PARTICLES = {"de", "del", "la", "las", "los", "y", "i", "e", "van", "von", "da", "di", "du", "le"}


def name_words(name: str) -> list[str]:
    """A name in the words it is said in, a particle kept with the word after it:
    "María del Carmen Ruiz" -> ["María", "del Carmen", "Ruiz"]; joined by spaces, the name."""
    out: list[str] = []
    carry = ""
    for word in name.split():
        if word.lower() in PARTICLES:
            carry = f"{carry} {word}".strip()
            continue
        out.append(f"{carry} {word}".strip())
        carry = ""
    if carry:
        if out:
            out[-1] += " " + carry
        else:
            out.append(carry)
    return out
