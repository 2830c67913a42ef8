"""Amounts and dates, as a native speaker says them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from prompts.speech import SpeechError, say_amount, say_date, say_number


@pytest.mark.parametrize(
    ("amount", "currency", "lang", "spoken"),
    [
        ("12500", "ARS", "es", "doce mil quinientos pesos"),
        ("12500.50", "ARS", "es", "doce mil quinientos pesos con cincuenta centavos"),
        ("1", "EUR", "es", "un euro"),
        ("21", "USD", "es", "veintiún dólares"),
        ("1000000", "MXN", "es", "un millón de pesos"),
        ("2500000.75", "COP", "es", "dos millones quinientos mil pesos con setenta y cinco centavos"),
        ("12500", "USD", "en", "twelve thousand five hundred dollars"),
        ("1.5", "USD", "en", "one dollar and fifty cents"),
        ("12500.5", "PLN", "pl", "dwanaście tysięcy pięćset złotych, pięćdziesiąt groszy"),
        ("2", "PLN", "pl", "dwa złote"),
        ("5", "PLN", "pl", "pięć złotych"),
        ("22", "PLN", "pl", "dwadzieścia dwa złote"),
    ],
)
def test_amounts(amount: str, currency: str, lang: str, spoken: str) -> None:
    assert say_amount(Decimal(amount), currency, lang) == spoken


@pytest.mark.parametrize(
    ("day", "lang", "spoken"),
    [
        (date(2026, 11, 20), "es", "el veinte de noviembre"),
        (date(2026, 12, 1), "es", "el primero de diciembre"),
        (date(2026, 3, 31), "es", "el treinta y uno de marzo"),
        (date(2026, 11, 20), "en", "November twentieth"),
        (date(2026, 7, 1), "en", "July first"),
        (date(2026, 11, 20), "pl", "dwudziestego listopada"),
        (date(2026, 5, 3), "pl", "trzeciego maja"),
        (date(2026, 1, 21), "pl", "dwudziestego pierwszego stycznia"),
        (date(2026, 2, 2), "pl", "drugiego lutego"),
    ],
)
def test_dates(day: date, lang: str, spoken: str) -> None:
    assert say_date(day, lang) == spoken


def test_numbers_and_refusals() -> None:
    assert say_number(1234, "en") == "one thousand two hundred and thirty-four"
    assert say_number(1234, "es") == "mil doscientos treinta y cuatro"
    with pytest.raises(SpeechError, match="language 'fr'"):
        say_number(1, "fr")
    with pytest.raises(SpeechError, match="negative"):
        say_amount("-5", "EUR", "es")
