"""Number types for the cost estimate: mobile, local or long distance (phonenumbers).

The rule:
- mobile: phonenumbers says MOBILE (FIXED_LINE_OR_MOBILE, as in the US and Canada where the
  two cannot be told apart, counts as fixed);
- every other number is fixed. A fixed number is local when it is in the same country as the
  reference and in the same area: the same geographic area code when phonenumbers knows one
  (US, GB, ...), else the same place name from phonenumbers' geocoder ("Madrid", "Warszawa");
  otherwise it is long distance (other countries too);
- the reference is the campaign's caller_id when it is a valid geographic fixed number; when
  there is none (no caller_id, or a mobile or non-geographic one) every fixed number in the
  campaign's default region is local.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder


def _parse(number: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def _area(n: phonenumbers.PhoneNumber) -> str:
    length = phonenumbers.length_of_geographical_area_code(n)
    if length:
        return phonenumbers.national_significant_number(n)[:length]
    return geocoder.description_for_number(n, "en")


class NumberClassifier:
    """`classify(number)` -> "mobile" | "local" | "long_distance" for one campaign."""

    def __init__(self, default_region: str, caller_id: str | None) -> None:
        self.region = default_region
        self.reference: phonenumbers.PhoneNumber | None = None
        digits = re.sub(r"[^\d+]", "", re.sub(r"^.*<(.*)>.*$", r"\1", caller_id or ""))
        ref = _parse(digits, default_region) if digits else None
        if ref is not None and phonenumbers.number_type(ref) in (
            PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE
        ) and phonenumbers.is_number_geographical(ref):
            self.reference = ref

    def __call__(self, number: str) -> str:
        n = _parse(number, self.region)
        if n is None:
            return "long_distance"
        if phonenumbers.number_type(n) == PhoneNumberType.MOBILE:
            return "mobile"
        if self.reference is None:
            return "local" if phonenumbers.region_code_for_number(n) == self.region else "long_distance"
        if n.country_code != self.reference.country_code:
            return "long_distance"
        area = _area(n)
        return "local" if area and area == _area(self.reference) else "long_distance"
