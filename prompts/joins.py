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
    """One segment's sound, and how much silence came before and after it (found once, trimmed
    often). Only the sound and PAD_MS either side are kept in memory: the rest of the silence is
    kept as a length and given back as zeros (espeak-ng's silence is zeros, or under 1% of full
    scale), so a worker's segment memory holds speech, not the pauses around it."""

    core: np.ndarray  # the sound with up to PAD_MS of what was around it
    head: int  # samples of silence dropped before the core
    tail: int  # and after it

    @classmethod
    def of(cls, samples: np.ndarray) -> Segment:
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= SILENCE_LEVEL)
        if not len(loud):
            return cls(samples[:0].copy(), len(samples), 0)
        pad = PAD_MS * RATE // 1000
        start, end = max(0, int(loud[0]) - pad), min(len(samples), int(loud[-1]) + 1 + pad)
        return cls(samples[start:end].copy(), start, len(samples) - end)

    @property
    def samples(self) -> np.ndarray:
        """The whole segment as spoken, silence included."""
        return self.trimmed(start=False, end=False)

    def trimmed(self, *, start: bool = True, end: bool = True) -> np.ndarray:
        """Leading (start) and trailing (end) silence cut to PAD_MS; nothing left if all is silent."""
        head = 0 if start else self.head
        tail = 0 if end else self.tail
        if not head and not tail:
            return self.core
        return np.concatenate([np.zeros(head, np.int16), self.core, np.zeros(tail, np.int16)])


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
