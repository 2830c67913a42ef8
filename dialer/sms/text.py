"""SMS text: GSM-7 or UCS-2, and the parts a text is sent in (never splitting an escape pair or a
surrogate pair), plus optional transliteration (á -> a, ł -> l) to stay in GSM-7.

- GSM-7 (GSM 03.38, default alphabet): a character of the basic set is one septet, one of the
  extension table (€ [ ] { } ~ ^ | \\ and form feed) is two (ESC + code). One part holds 160
  septets; parts of a concatenated text hold 153 (the concatenation header takes the rest).
- UCS-2 (UTF-16 in practice): one part holds 70 code units; concatenated parts 67. A character
  outside the BMP (an emoji) is two code units, a surrogate pair, and is never split.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

GSM7 = "gsm7"
UCS2 = "ucs2"
SINGLE = {GSM7: 160, UCS2: 70}
MULTI = {GSM7: 153, UCS2: 67}
# characters with no GSM-7 form whose plain replacement reads the same
_PLAIN = {
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "ı": "i", "œ": "oe", "Œ": "OE", "ŀ": "l",
    "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "´": "'", "`": "'",
    "–": "-", "—": "-", "…": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "•": "-", "ª": "a", "º": "o",
}  # fmt: skip


@lru_cache(maxsize=4096)
def septets(char: str) -> int | None:
    """Septets of one character in GSM-7 (1 or 2), None if it has no GSM-7 form."""
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def is_gsm7(text: str) -> bool:
    return all(septets(c) is not None for c in text)


def encoding_of(text: str) -> str:
    """GSM7 when every character is in the GSM 03.38 default alphabet or its extension, else UCS2."""
    return GSM7 if is_gsm7(text) else UCS2


def units(char: str, encoding: str) -> int:
    """What one character takes in a part: septets (GSM-7) or UTF-16 code units (UCS-2)."""
    if encoding == GSM7:
        found = septets(char)
        if found is None:
            raise ValueError(f"{char!r} has no GSM-7 form")
        return found
    return 2 if ord(char) > 0xFFFF else 1


@dataclass(frozen=True)
class Split:
    encoding: str
    parts: tuple[str, ...]
    units: int  # septets (GSM-7) or code units (UCS-2) of the whole text

    @property
    def segments(self) -> int:
        return len(self.parts)


def split(text: str, encoding: str | None = None) -> Split:
    """The parts `text` goes out in. A character is never cut: an escape pair or a surrogate pair
    that would not fit in a part starts the next one."""
    enc = encoding or encoding_of(text)
    sizes = [units(c, enc) for c in text]
    total = sum(sizes)
    if total <= SINGLE[enc]:
        return Split(enc, (text,) if text else ("",), total)
    parts: list[str] = []
    start, used = 0, 0
    for i, size in enumerate(sizes):
        if used + size > MULTI[enc]:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return Split(enc, tuple(parts), total)


def segments(text: str) -> int:
    return split(text).segments


def transliterate(text: str) -> str:
    """Characters with no GSM-7 form become their plain letters (á -> a, ł -> l, ż -> z, “ -> ");
    characters that are in GSM-7 (ñ, é, ü, ¿, ¡, ß) stay as they are. What has no plain form stays."""
    out: list[str] = []
    for char in text:
        if septets(char) is not None:
            out.append(char)
        elif char in _PLAIN:
            out.append(_PLAIN[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and is_gsm7(base) else char)
    return "".join(out)
