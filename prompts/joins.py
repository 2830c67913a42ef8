"""Segments joined into one sentence: silence trimmed at every join, and measured.

Each segment is trimmed to PAD_MS of silence at the ends that meet another segment, and a join
adds the pause prompts.splice.gap_ms chooses: no join holds more than MAX_JOIN_SILENCE_MS of
silence (2 x PAD_MS + the longest gap), where silence is every sample below SILENCE_LEVEL (1% of
full scale) in absolute value. silence_ms() measures it on the finished audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prompts.splice import gap_ms

RATE = 8000
SILENCE_LEVEL = 328  # 1% of full scale, -40 dBFS
PAD_MS = 20  # kept at each end of a trimmed segment
MAX_JOIN_SILENCE_MS = 150


@dataclass(frozen=True)
class Segment:
    """One segment's samples and where its sound starts and ends (found once, trimmed often)."""

    samples: np.ndarray
    first: int  # the first sample at or above SILENCE_LEVEL
    last: int  # one past the last one (first == last: all silent)

    @classmethod
    def of(cls, samples: np.ndarray) -> Segment:
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= SILENCE_LEVEL)
        return cls(samples, int(loud[0]), int(loud[-1]) + 1) if len(loud) else cls(samples, 0, 0)

    def trimmed(self, *, start: bool = True, end: bool = True) -> np.ndarray:
        """Leading (start) and trailing (end) silence cut to PAD_MS; nothing left if all is silent."""
        if self.first == self.last:
            return self.samples[:0]
        pad = PAD_MS * RATE // 1000
        return self.samples[max(0, self.first - pad) if start else 0 : self.last + pad if end else len(self.samples)]


def join(parts: Sequence[str], segments: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The segments (already trimmed) with pauses between them; also where each join is (sample)."""
    pieces: list[np.ndarray] = []
    joins: list[int] = []
    at = 0
    for i, segment in enumerate(segments):
        if i:
            gap = np.zeros(gap_ms(parts[i - 1], parts[i]) * RATE // 1000, np.int16)
            joins.append(at + len(gap) // 2)
            pieces.append(gap)
            at += len(gap)
        pieces.append(segment)
        at += len(segment)
    return (np.concatenate(pieces) if pieces else np.zeros(0, np.int16)), joins


def silence_ms(samples: np.ndarray, at: int) -> float:
    """How long the silence around sample `at` lasts (0 if `at` is sound)."""
    loud = np.abs(samples.astype(np.int32)) >= SILENCE_LEVEL
    before = np.flatnonzero(loud[:at])
    after = np.flatnonzero(loud[at:])
    first = int(before[-1]) + 1 if len(before) else 0
    last = at + int(after[0]) if len(after) else len(samples)
    return (last - first) * 1000 / RATE
