"""Value checks for TOML input (campaign files): each problem is recorded as `FILE:LINE: KEY:
reason` (the line found by toml_lines), and every problem of a file is reported at once."""

from __future__ import annotations

import re
from typing import Any

from dialer.campaigns.toml_lines import KeyPath, dotted, key_lines, line_of


class Checker:
    """Collects every problem of one TOML file as FILE:LINE: KEY: reason, sorted by line."""


    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.lines = key_lines(text)
        self.found: list[tuple[int, str, str, str]] = []  # line, message, field, reason

    def error(self, path: KeyPath, reason: str) -> None:
        line = line_of(self.lines, path)
        self.found.append((line, f"{self.filename}:{line}: {dotted(path)}: {reason}", dotted(path), reason))

    @property
    def errors(self) -> list[str]:
        return [found[1] for found in sorted(self.found, key=lambda f: f[0])]

    @property
    def by_field(self) -> list[tuple[str, str]]:
        """(dotted key, reason) of each problem, in the order of errors."""
        return [(found[2], found[3]) for found in sorted(self.found, key=lambda f: f[0])]

    # -- value checks; each returns True when the value is acceptable ------------------------
    def text(self, path: KeyPath, value: Any, max_len: int = 200, pattern: str | None = None) -> bool:
        if not isinstance(value, str):
            return self._type(path, value, "a string")
        if not value.strip():
            self.error(path, "must not be empty")
        elif len(value) > max_len:
            self.error(path, f"longer than {max_len} characters")
        elif pattern and not re.fullmatch(pattern, value):
            self.error(path, f"{value!r} does not match {pattern}")
        else:
            return True
        return False

    def integer(self, path: KeyPath, value: Any, low: int, high: int | None = None) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return self._type(path, value, "an integer")
        if value < low or (high is not None and value > high):
            self.error(path, f"{value} is out of range ({low}..{high if high is not None else ''})")
            return False
        return True

    def number(self, path: KeyPath, value: Any, low: float, strict: bool = False) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._type(path, value, "a number")
        if value < low or (strict and value == low):
            self.error(path, f"{value} must be {'greater than' if strict else 'at least'} {low}")
            return False
        return True

    def table(self, path: KeyPath, value: Any) -> bool:
        return isinstance(value, dict) or self._type(path, value, "a table")

    def _type(self, path: KeyPath, value: Any, wanted: str) -> bool:
        self.error(path, f"expected {wanted}, got {toml_type(value)} {value!r}")
        return False

    def keys(self, path: KeyPath, table: dict[str, Any], allowed: tuple[str, ...] | set[str]) -> None:
        for key in table:
            if key not in allowed:
                self.error(path + (key,), f"unknown key (expected one of: {', '.join(sorted(allowed))})")


def toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}  # fmt: skip
    return names.get(type(value), type(value).__name__)
