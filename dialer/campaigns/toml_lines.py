"""Where each key of a TOML document is: tomllib gives values, not line numbers.

`key_lines(text)` maps every key path to the 1-based line that defines it: table headers
(`[retries]` -> ("retries",)), keys (`delay_s.busy = 1` under `[retries]` ->
("retries", "delay_s", "busy")), and arrays of tables by index (`[[survey]]` -> ("survey", 0)).
The text must already have parsed with tomllib; the scan skips strings, comments and values
that span lines (multi-line strings and arrays). Keys inside inline tables are not listed:
`line_of` falls back to the nearest listed ancestor, which is on the same line.
"""

from __future__ import annotations

import tomllib

KeyPath = tuple[str | int, ...]
BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _string_end(s: str, i: int) -> int:
    """Index just past the string starting at s[i] (one-line basic or literal)."""
    quote = s[i]
    j = i + 1
    while j < len(s) and s[j] != quote:
        j += 2 if quote == '"' and s[j] == "\\" else 1
    return j + 1


def _parse_key(s: str, i: int, stop: str) -> tuple[list[str], int]:
    """A dotted key starting at s[i], up to `stop` ("=" or "]"); returns its parts and the index of stop."""
    parts: list[str] = []
    while i < len(s):
        while i < len(s) and s[i] in " \t":
            i += 1
        if s[i] in "\"'":
            end = _string_end(s, i)
            parts.append(tomllib.loads(f"k = {s[i:end]}")["k"])
            i = end
        else:
            start = i
            while i < len(s) and s[i] in BARE:
                i += 1
            parts.append(s[start:i])
        while i < len(s) and s[i] in " \t":
            i += 1
        if i >= len(s) or s[i] in stop:
            return parts, i
        i += 1  # the dot
    return parts, i


class _Scanner:
    def __init__(self) -> None:
        self.multiline: str | None = None  # '"""' or "'''" while inside one
        self.depth = 0  # open [ and { of a value

    def busy(self) -> bool:
        return self.multiline is not None or self.depth > 0

    def value(self, s: str, i: int) -> None:
        """Follow a value (or the rest of one) to the end of the line."""
        while i < len(s):
            if self.multiline is not None:
                end = s.find(self.multiline, i)
                while end > 0 and self.multiline == '"""' and _escaped(s, end):
                    end = s.find(self.multiline, end + 1)
                if end < 0:
                    return
                i = end + 3
                while i < len(s) and s[i] == self.multiline[0]:  # up to two quotes may close it
                    i += 1
                self.multiline = None
                continue
            c = s[i]
            if c == "#":
                return
            if s.startswith('"""', i) or s.startswith("'''", i):
                self.multiline = s[i : i + 3]
                i += 3
            elif c in "\"'":
                i = _string_end(s, i)
            else:
                self.depth += 1 if c in "[{" else -1 if c in "]}" else 0
                i += 1


def _escaped(s: str, i: int) -> bool:
    backslashes = 0
    while i - backslashes - 1 >= 0 and s[i - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def key_lines(text: str) -> dict[KeyPath, int]:
    found: dict[KeyPath, int] = {}
    arrays: dict[KeyPath, int] = {}  # array-of-tables path -> index of its last element
    prefix: KeyPath = ()
    scan = _Scanner()
    for number, line in enumerate(text.splitlines(), start=1):
        if scan.busy():
            scan.value(line, 0)
            continue
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("["):
            is_array = s.startswith("[[")
            keys, _ = _parse_key(s, 2 if is_array else 1, "]")
            resolved: list[str | int] = []
            for key in keys:
                resolved.append(key)
                if tuple(resolved) in arrays and not (is_array and len(resolved) == len(keys)):
                    resolved.append(arrays[tuple(resolved)])
            if is_array:
                index = arrays.get(tuple(resolved), -1) + 1
                arrays[tuple(resolved)] = index
                found.setdefault(tuple(resolved), number)
                resolved.append(index)
            prefix = tuple(resolved)
            found.setdefault(prefix, number)
            continue
        keys, eq = _parse_key(s, 0, "=")
        for n in range(1, len(keys) + 1):
            found.setdefault(prefix + tuple(keys[:n]), number)
        scan.value(s, eq + 1)
    return found


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int:
    """The line of `path`, else of its nearest listed ancestor, else 1."""
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return 1


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
