"""The import's phone numbers: the fast path for plain numbers gives exactly what phonenumbers'
parse() gives (numbers, types and messages), and the type lookup is exactly its validity check."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from dialer.campaigns.numbers import normalise, normalise_parsed, number_type

REGIONS = ["ES", "PL", "IT", "MX", "US", "GB", "AR", "DE", "CL", "CO", "PE", "FR"]
PREFIXES = ["6", "7", "9", "3", "5", "2", "8", "1", "4", "55", "11", "212"]
COUNTRIES = ["34", "48", "39", "52", "1", "44", "54", "49", "56", "57", "51", "33", "7", "380"]


def samples(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        digits = rng.choice(PREFIXES) + "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 10)))
        style = rng.randrange(6)
        out.append([digits, f"+{rng.choice(COUNTRIES)}{digits}", f"{digits[:3]} {digits[3:6]}-{digits[6:]}",
                    f"+{rng.choice(COUNTRIES)} ({digits[:2]}) {digits[2:]}", f"0{digits}", f"{digits}.{style}"][style])  # fmt: skip
    return out


@pytest.mark.parametrize("region", REGIONS)
def test_the_fast_path_equals_parse(region: str) -> None:
    values = samples(hash(region) & 0xFFFF, 4000)
    valid = 0
    for value in values:
        fast, reference = normalise(value, region), normalise_parsed(value, region)
        assert fast == reference, value
        valid += reference[2] is None
    assert valid > 100  # the samples reach valid numbers, not only refusals


@pytest.mark.parametrize("region", ["ES", "PL", "US", "GB", "AR"])
def test_a_known_type_is_exactly_validity(region: str) -> None:
    for value in samples(7, 3000):
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        known = phonenumbers.number_type(parsed) != phonenumbers.PhoneNumberType.UNKNOWN
        assert known == phonenumbers.is_valid_number(parsed), value


def test_the_compiled_type_equals_phonenumbers_for_every_country_code() -> None:
    rng = random.Random(15)
    kinds: set[phonenumbers.PhoneNumberType] = set()
    for country in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for _ in range(150):  # numbers of every length the plans use, most of them near valid ones
            national = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 12)))
            expected = phonenumbers.number_type(phonenumbers.PhoneNumber(country_code=country,
                                                                         national_number=int(national)))  # fmt: skip
            assert number_type(country, national) == expected, (country, national)
            kinds.add(expected)
    assert len(kinds) >= 6  # mobile, fixed line, toll free, premium, ... all met, not only UNKNOWN
