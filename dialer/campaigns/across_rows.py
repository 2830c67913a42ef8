"""What a row of an import cannot know alone: an id or a number accepted on an earlier line, an
id already in the campaign (one indexed query a chunk).

The keys seen so far sit in sorted numpy arrays with the line each was accepted on (numbers as
their E.164 digits in an int64, ids as their UTF-8 bytes), looked up a chunk at a time: about 20
bytes a key, where a dict of Python strings and ints took about 110 (a million rows: ~40 MB
instead of ~180). Within a chunk the rows are taken in file order, so a row repeating an earlier
row of the same chunk is found as surely as one repeating an earlier chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaigns.csv_files import Rejection
from dialer.campaigns.row_checks import Row
from dialer.storage.models import Campaign, Contact


class SeenKeys:
    """Keys and the line each was first accepted on, sorted by key (exact: no hashing)."""

    def __init__(self, dtype: Any) -> None:
        self._keys: np.ndarray[Any, Any] = np.empty(0, dtype=dtype)
        self._lines: np.ndarray[Any, Any] = np.empty(0, dtype=np.uint32)

    def __len__(self) -> int:
        return len(self._keys)

    def _common(self, keys: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Bytes keys in one width for both sides (a narrower side would be cut, not compared)."""
        if keys.dtype.kind == "S" and keys.dtype.itemsize != self._keys.dtype.itemsize:
            width = max(keys.dtype.itemsize, self._keys.dtype.itemsize)
            if self._keys.dtype.itemsize < width:
                self._keys = self._keys.astype(f"S{width}")
            keys = keys.astype(f"S{width}")
        return keys

    def lookup(self, keys: np.ndarray[Any, Any]) -> dict[Any, int]:
        """{key: its line} for the given keys that were seen (usually none)."""
        if not len(self._keys) or not len(keys):
            return {}
        keys = self._common(keys)
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        hits = np.flatnonzero(self._keys[at] == keys)
        return {keys[i].item(): int(self._lines[at[i]]) for i in hits}

    def add(self, keys: np.ndarray[Any, Any], lines: np.ndarray[Any, Any]) -> None:
        if not len(keys):
            return
        keys = self._common(keys)
        order = np.argsort(keys, kind="stable")
        keys, lines = keys[order], lines[order]
        at = np.searchsorted(self._keys, keys)
        self._keys, self._lines = np.insert(self._keys, at, keys), np.insert(self._lines, at, lines)


def _id_key(ext: str) -> bytes:
    return ext.encode() + b"\x01"  # never ends in NUL, which numpy's bytes would drop


class AcrossRows:
    def __init__(self, session: Session, campaign: Campaign) -> None:
        self.session, self.campaign = session, campaign
        self.ids = SeenKeys("S1")
        self.numbers = SeenKeys(np.int64)
        self.campaign_has_contacts = session.scalar(
            select(Contact.id).where(Contact.campaign_id == campaign.id).limit(1)) is not None  # fmt: skip

    def existing(self, rows: Sequence[Row]) -> set[str]:
        if not self.campaign_has_contacts:
            return set()
        ids = [row[1] for row in rows if row[1]]
        return set(self.session.scalars(select(Contact.external_id).where(
            Contact.campaign_id == self.campaign.id, Contact.external_id.in_(ids))))  # fmt: skip

    def check(self, rows: Sequence[Row], existing: set[str] | None = None) -> list[Row]:
        """The rows accepted; each rejected row's problems gain what was found across rows.
        `existing`: the rows' ids already in the campaign (default: asked of the database)."""
        existing = self.existing(rows) if existing is None else existing
        id_keys = [_id_key(row[1]) for row in rows]
        row_numbers = [[(int(e164[1:]), e164, column) for e164, _type, column in row[5]] for row in rows]
        seen_ids = self.ids.lookup(np.array(id_keys, dtype=bytes))
        seen_numbers = self.numbers.lookup(np.array([n for numbers in row_numbers for n, _e, _c in numbers],
                                                    dtype=np.int64))  # fmt: skip
        new_ids: dict[bytes, int] = {}
        new_numbers: dict[int, int] = {}
        accepted: list[Row] = []
        for row, key, numbers in zip(rows, id_keys, row_numbers, strict=True):
            line, ext, problems = row[0], row[1], row[6]
            earlier = seen_ids.get(key) or new_ids.get(key)
            if earlier is not None:
                problems.append(Rejection(line, "external_id", f"{ext!r} repeats line {earlier}"))
            elif ext in existing:
                problems.append(Rejection(line, "external_id", f"{ext!r} is already in campaign {self.campaign.name!r}"))
            for number, e164, column in numbers:
                earlier = seen_numbers.get(number) or new_numbers.get(number)
                if earlier is not None:
                    problems.append(Rejection(line, column, f"{e164} repeats line {earlier}"))
            if not problems:
                accepted.append(row)
                new_ids[key] = line
                new_numbers.update((number, line) for number, _e, _c in numbers)
        self.ids.add(np.array(list(new_ids), dtype=bytes), np.array(list(new_ids.values()), dtype=np.uint32))
        self.numbers.add(np.array(list(new_numbers), dtype=np.int64),
                         np.array(list(new_numbers.values()), dtype=np.uint32))  # fmt: skip
        return accepted
