"""Replies that opt a number out: STOP, BAJA, NO, NIE, STOPSMS (or a campaign's own `stop_words`),
matched case- and accent-insensitively against the whole reply, ignoring spaces and punctuation
("Baja.", "stop sms", "Nié!" all match; "No puedo pagar hoy" does not)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

STOP_WORDS = ("STOP", "BAJA", "NO", "NIE", "STOPSMS")


def normalize(text: str) -> str:
    """Upper case, accents and everything but letters and digits removed: ' Bája. ' -> 'BAJA'."""
    plain = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in plain if c.isalnum() and not unicodedata.combining(c)).upper()


def is_stop(text: str, words: Iterable[str] = STOP_WORDS) -> bool:
    return normalize(text) in {normalize(w) for w in words}


def opts_out(settings: Mapping[str, Any], text: str) -> bool:
    """Does this reply opt out, with the campaign's [sms] stop_words (default STOP_WORDS)?"""
    return is_stop(text, settings.get("stop_words") or STOP_WORDS)
