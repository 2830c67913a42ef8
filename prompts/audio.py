"""Audio as Asterisk plays it without transcoding: 8 kHz, mono, 16-bit signed PCM WAV."""

from __future__ import annotations

import io

from pydub import AudioSegment

RATE, CHANNELS, SAMPLE_WIDTH = 8000, 1, 2


def to_asterisk_wav(data: bytes, fmt: str) -> bytes:
    """Convert wav/mp3 bytes (pydub with ffmpeg) to 8 kHz mono 16-bit WAV bytes."""
    segment = AudioSegment.from_file(io.BytesIO(data), format=fmt)
    segment = segment.set_frame_rate(RATE).set_channels(CHANNELS).set_sample_width(SAMPLE_WIDTH)
    out = io.BytesIO()
    segment.export(out, format="wav")
    return out.getvalue()
