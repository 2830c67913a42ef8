"""espeak-ng as the dialer renders it: spoken in process, resampled in process, spliced.

Each segment is synthesised by this process's libespeak-ng (prompts.espeak_lib) or, when the
library cannot be used, by the espeak-ng program, one process per segment: the same samples
either way, so the same bytes. Segments are resampled to 8 kHz here (prompts.resample) and kept
in a per-process cache, so the fixed text, dates and concepts that many contacts share are
spoken once per process. A spliced text (prompts.splice) is joined from its segments with short
pauses; a plain text is one segment, kept with espeak-ng's own leading and trailing silence.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import wave
from collections import OrderedDict

import numpy as np

from prompts import espeak_lib, joins, splice
from prompts.audio import wav_bytes
from prompts.resample import IN_RATE, to_8k

CACHED_SEGMENTS = 8192  # ~90 MB of speech (bench/names.py's names); 4,096 would hold 53 MB and speak 2.6x as often


class SynthesisError(RuntimeError):
    """espeak-ng could not speak a text (no such voice, the program failed)."""


class SynthesisMissing(SynthesisError):
    """Neither libespeak-ng nor the espeak-ng program is there."""


def program_pcm(text: str, voice: str, timeout_s: float = 30.0) -> bytes:
    """The espeak-ng program's samples for `text` (22,050 Hz mono 16-bit), one process per call."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SynthesisMissing("espeak-ng is not installed: apt-get install espeak-ng")
    proc = subprocess.run([binary, "-v", voice, "--stdout", text], capture_output=True, timeout=timeout_s, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise SynthesisError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    with wave.open(io.BytesIO(proc.stdout)) as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (IN_RATE, 1, 2):
            raise SynthesisError(f"espeak-ng gave {wav.getframerate()} Hz, {wav.getnchannels()} channels")
        return wav.readframes(wav.getnframes())


def synthesise(text: str, voice: str) -> bytes:
    """22,050 Hz samples of `text` from the library, or from the program if the library is unusable."""
    try:
        library = espeak_lib.shared()
    except espeak_lib.LibraryError:
        return program_pcm(text, voice)
    try:
        return library.pcm(text, voice)
    except espeak_lib.LibraryError as exc:
        raise SynthesisError(str(exc)) from None


class Renderer:
    """Renders texts to 8 kHz WAV bytes, keeping recent segments (per voice) in memory."""

    def __init__(self, cached_segments: int = CACHED_SEGMENTS) -> None:
        self.cached_segments = cached_segments
        self._segments: OrderedDict[tuple[str, str], joins.Segment] = OrderedDict()
        self.synthesised = 0  # segments actually spoken (the others came from memory)
        self._lock = threading.Lock()

    def segment(self, text: str, voice: str) -> joins.Segment:
        key = (voice, text)
        with self._lock:
            found = self._segments.get(key)
            if found is not None:
                self._segments.move_to_end(key)
                return found
        segment = joins.Segment.of(to_8k(np.frombuffer(synthesise(text, voice), np.int16)))
        with self._lock:
            self.synthesised += 1
            self._segments[key] = segment
            if len(self._segments) > self.cached_segments:
                self._segments.popitem(last=False)
        return segment

    def samples(self, text: str, voice: str) -> tuple[np.ndarray, list[int]]:
        """The 8 kHz samples of a plain or spliced text, and where its joins are."""
        parts = splice.parts_of(text)
        if len(parts) == 1 and splice.WORD not in text:
            return self.segment(text, voice).samples, []
        kept: list[str] = []
        for part in parts:  # a part with nothing to say (".") lends its punctuation to the one before
            if splice.spoken(part) or not kept:
                kept.append(part)
            else:
                kept[-1] += part
        words = [word for part in kept if splice.spoken(part) for word in splice.words_of(part)]
        last = len(words) - 1
        segments = [self.segment(say, voice).trimmed(start=i > 0, end=i < last) for i, (_at, say) in enumerate(words)]
        return joins.join([at for at, _say in words], segments)

    def wav(self, text: str, voice: str) -> bytes:
        samples, _joins = self.samples(text, voice)
        if not len(samples):
            raise SynthesisError(f"espeak-ng said nothing for {text[:40]!r}")
        return wav_bytes(samples)


_renderer: Renderer | None = None


def renderer() -> Renderer:
    """This process's renderer (its segment memory lives as long as the process)."""
    global _renderer
    if _renderer is None:
        _renderer = Renderer()
    return _renderer
