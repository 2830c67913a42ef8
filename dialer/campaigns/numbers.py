"""Phone numbers as operators write them, to E.164 with their type (phonenumbers).

One number costs about 30 µs through phonenumbers (parse ~18 µs, type ~12 µs): half a minute
per million. Three savings, all exact:
- the type lookup doubles as the validity check (a number whose type is UNKNOWN is exactly one
  is_valid_number() refuses), so that call goes;
- parse() is skipped for the common plain case: digits (spaces, dashes, dots, brackets allowed),
  national or with +country code, no leading zero, in a numbering plan with no national prefix
  to strip (Spain, Poland, Italy, Mexico, ...). Such a number is its own national significant
  number. Only a number whose type is then known (valid) is taken; anything else goes through
  parse() as before, so results and messages are phonenumbers' own (tests compare both ways);
- the type of a number of a country code with one region is read by phonenumbers' own rule
  (_number_type_helper: the general pattern, then premium ... voicemail, fixed line, mobile) on
  phonenumbers' own metadata, with each pattern compiled once instead of looked up per call
  (the library goes through its regex cache ~7 times a number). Country codes shared by several
  regions (+1, +7, +44, ...) keep phonenumbers.number_type, which must first find the region.
"""

from __future__ import annotations


import re
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from dialer.domain import PhoneType

PHONE_TYPES = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.FIXED,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneType.OTHER,
    PhoneNumberType.VOIP: PhoneType.VOIP,
}
# (E.164, type, problem): problem is None for a good number, else E.164 is ""
Normalised = tuple[str, PhoneType, str | None]


_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")


@lru_cache(maxsize=512)
def _plain_plan(country_code: int, region: str | None) -> bool:
    """True when numbers of this plan are written without a national prefix to strip."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region or "")
    return metadata is not None and metadata.national_prefix_for_parsing is None


@lru_cache(maxsize=512)
def _country_code(region: str) -> int:
    metadata = PhoneMetadata.metadata_for_region(region)
    return metadata.country_code if metadata is not None else 0


# the order of phonenumbers' _number_type_helper after the general description
_SPECIAL = (("premium_rate", PhoneNumberType.PREMIUM_RATE), ("toll_free", PhoneNumberType.TOLL_FREE),
            ("shared_cost", PhoneNumberType.SHARED_COST), ("voip", PhoneNumberType.VOIP),
            ("personal_number", PhoneNumberType.PERSONAL_NUMBER), ("pager", PhoneNumberType.PAGER),
            ("uan", PhoneNumberType.UAN), ("voicemail", PhoneNumberType.VOICEMAIL))  # fmt: skip
_Desc = tuple[frozenset[int], "re.Pattern[str]"] | None


def _desc(desc: object) -> _Desc:
    pattern = getattr(desc, "national_number_pattern", None) if desc is not None else None
    if not pattern:
        return None  # phonenumbers: an absent or empty pattern matches nothing
    return frozenset(getattr(desc, "possible_length", ()) or ()), re.compile(pattern)


def _matches(national: str, desc: _Desc) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


@lru_cache(maxsize=512)
def _types(country_code: int) -> tuple[_Desc, list[tuple[_Desc, PhoneNumberType]], _Desc, _Desc, bool] | None:
    """A single-region country code's type descriptions, compiled once (None: several regions)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:
        return None
    m = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
    if m is None:
        return None
    return (_desc(m.general_desc), [(_desc(getattr(m, name)), kind) for name, kind in _SPECIAL],
            _desc(m.fixed_line), _desc(m.mobile), bool(m.same_mobile_and_fixed_line_pattern))  # fmt: skip


def number_type(country_code: int, national: str) -> PhoneNumberType:
    """phonenumbers.number_type() of +<country_code><national> (national: digits, no leading 0)."""
    types = _types(country_code)
    if types is None:
        return phonenumbers.number_type(PhoneNumber(country_code=country_code, national_number=int(national)))
    general, special, fixed, mobile, same = types
    if not _matches(national, general):
        return PhoneNumberType.UNKNOWN
    for desc, kind in special:
        if _matches(national, desc):
            return kind
    if _matches(national, fixed):
        return PhoneNumberType.FIXED_LINE_OR_MOBILE if same or _matches(national, mobile) else PhoneNumberType.FIXED_LINE
    if not same and _matches(national, mobile):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


def _plain(value: str, region: str) -> tuple[str, PhoneNumberType] | None:
    """(E.164, type) without parse() for a plain valid number, else None (parse() decides)."""
    raw = value.translate(_SEPARATORS)
    plus = raw[:1] == "+"
    digits = raw[1:] if plus else raw
    if not (3 <= len(digits) <= 17 and digits.isascii() and digits.isdigit()) or digits[0] == "0":
        return None
    if plus:
        for size in (1, 2, 3):
            country = int(digits[:size])
            if country in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        national, home = digits[size:], COUNTRY_CODE_TO_REGION_CODE[country][0]
    else:
        country, national, home = _country_code(region), digits, region
    if not country or not national or national[0] == "0" or not _plain_plan(country, home):
        return None
    kind = number_type(country, national)
    return (f"+{country}{national}", kind) if kind != PhoneNumberType.UNKNOWN else None


def normalise(value: str, region: str) -> Normalised:
    """(E.164, type, problem) for one number as written in the file."""
    plain = _plain(value, region)
    if plain is not None:
        return plain[0], PHONE_TYPES.get(plain[1], PhoneType.OTHER), None
    return normalise_parsed(value, region)


def normalise_parsed(value: str, region: str) -> Normalised:
    """normalise() through phonenumbers.parse() alone (the reference the fast path must equal)."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        return "", PhoneType.OTHER, f"{value!r} is not a phone number ({exc._msg})"
    kind = phonenumbers.number_type(parsed)  # UNKNOWN for every number is_valid_number() refuses
    if kind == PhoneNumberType.UNKNOWN:
        return "", PhoneType.OTHER, f"{value!r} is not a valid number in region {region}"
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164), PHONE_TYPES.get(kind, PhoneType.OTHER), None


