"""Audio as Asterisk plays it without transcoding: 8 kHz, mono, 16-bit signed PCM WAV."""

from __future__ import annotations

import io
import wave

import numpy as np

RATE, CHANNELS, SAMPLE_WIDTH = 8000, 1, 2
READY = "wav8k"  # a backend's format name for bytes that are already what Asterisk plays


def wav_bytes(samples: np.ndarray) -> bytes:
    """8 kHz mono 16-bit samples as WAV file bytes (the wave module: no process)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(RATE)
        wav.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def to_asterisk_wav(data: bytes, fmt: str) -> bytes:
    """Convert wav/mp3 bytes (pydub with ffmpeg: gTTS only) to 8 kHz mono 16-bit WAV bytes."""
    if fmt == READY:
        return data
    from pydub import AudioSegment

    segment = AudioSegment.from_file(io.BytesIO(data), format=fmt)
    segment = segment.set_frame_rate(RATE).set_channels(CHANNELS).set_sample_width(SAMPLE_WIDTH)
    out = io.BytesIO()
    segment.export(out, format="wav")
    return out.getvalue()
