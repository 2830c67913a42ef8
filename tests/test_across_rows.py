"""The keys an import has seen, in sorted arrays: exact whatever the ids' lengths and bytes."""

from __future__ import annotations

import numpy as np

from dialer.campaigns.across_rows import SeenKeys, _id_key


def ids(*texts: str) -> np.ndarray:
    return np.array([_id_key(t) for t in texts], dtype=bytes)


def test_ids_are_found_exactly_as_their_width_grows() -> None:
    seen = SeenKeys("S1")
    seen.add(ids("C1", "C10", "b"), np.array([2, 3, 4], dtype=np.uint32))
    assert seen.lookup(ids("C1", "C100", "C", "b", "")) == {_id_key("C1"): 2, _id_key("b"): 4}
    seen.add(ids("a-much-longer-identifier-than-before", "a\x00"), np.array([5, 6], dtype=np.uint32))
    assert seen.lookup(ids("C10", "a", "a\x00", "a-much-longer-identifier-than-before", "a-much")) == {
        _id_key("C10"): 3, _id_key("a\x00"): 6, _id_key("a-much-longer-identifier-than-before"): 5}
    assert seen.lookup(ids("ñandú", "Łódź")) == {}
    seen.add(ids("ñandú"), np.array([7], dtype=np.uint32))
    assert seen.lookup(ids("Łódź", "ñandú")) == {_id_key("ñandú"): 7} and len(seen) == 6


def test_numbers_keep_their_first_line() -> None:
    seen = SeenKeys(np.int64)
    assert seen.lookup(np.array([34611100000], dtype=np.int64)) == {}
    seen.add(np.array([34611100000, 48500100200, 1], dtype=np.int64), np.array([9, 4, 7], dtype=np.uint32))
    seen.add(np.array([34600000000], dtype=np.int64), np.array([12], dtype=np.uint32))
    found = seen.lookup(np.array([48500100200, 2, 34600000000, 34611100000], dtype=np.int64))
    assert found == {48500100200: 4, 34600000000: 12, 34611100000: 9}
