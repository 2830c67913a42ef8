"""What the simulated carrier plays: audio as raw 8 kHz mu-law (SIPp's rtp_stream sends a file's
bytes as RTP payload, so no WAV header) and RFC 2833 key presses as pcap files (play_pcap_audio).

Speech comes from espeak-ng, tones and mixing from sox; nothing is kept in git. Files are made
once into a directory (the carrier's working directory) and reused while their recipe is the same.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RATE = 8000
TOOL_TIMEOUT_S = 60
# ITU-T E.180 special information tone, "vacant code" (the number is not in service)
SIT_TONES = ((985.2, 0.380), (1370.6, 0.274), (1776.7, 0.380))


class MediaError(RuntimeError):
    """A tool the carrier's audio needs is missing or failed; the message says which."""


@dataclass(frozen=True)
class Part:
    """One piece of a sound: speech (text + espeak-ng voice), a tone, or silence."""

    kind: str  # "speech" | "tone" | "silence" | "file"
    text: str = ""
    voice: str = "en"
    hz: float = 0.0
    seconds: float = 0.0
    gain_db: float = 0.0  # speech and files: louder or softer than espeak-ng / the file
    speed: int = 150  # espeak-ng words per minute
    path: str = ""  # kind "file": any sound sox reads (Asterisk's own sounds)


def speech(text: str, voice: str = "en", gain_db: float = 0.0, speed: int = 150) -> Part:
    return Part("speech", text=text, voice=voice, gain_db=gain_db, speed=speed)


def tone(hz: float, seconds: float, gain_db: float = -10.0) -> Part:
    return Part("tone", hz=hz, seconds=seconds, gain_db=gain_db)


def silence(seconds: float) -> Part:
    return Part("silence", seconds=seconds)


def sound_file(path: str | Path, gain_db: float = 0.0) -> Part:
    return Part("file", path=str(path), gain_db=gain_db)


@dataclass(frozen=True)
class Sound:
    """A named sound: its parts in order, and optionally line noise under all of it."""

    name: str
    parts: tuple[Part, ...]
    noise_db: float | None = None  # white noise level (dBFS) mixed under the whole sound
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def recipe(self) -> str:
        return repr((self.parts, self.noise_db))


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise MediaError(f"{tool} is not installed (apt-get install {'espeak-ng' if tool == 'espeak-ng' else tool})")
    return found


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{cmd[0]} failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[-400:]}")


def _part_wav(part: Part, out: Path) -> None:
    """One part as 8 kHz mono 16-bit WAV."""
    sox = _need("sox")
    fmt = ["-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
    if part.kind == "speech":
        raw = out.with_suffix(".espeak.wav")
        _run([_need("espeak-ng"), "-v", part.voice, "-s", str(part.speed), "-w", str(raw), part.text])
        _run([sox, str(raw), *fmt, str(out), "gain", f"{part.gain_db:g}"])
    elif part.kind == "file":
        _run([sox, part.path, *fmt, str(out), "gain", f"{part.gain_db:g}"])
    elif part.kind == "tone":
        _run([sox, "-n", *fmt, str(out), "synth", f"{part.seconds:g}", "sine", f"{part.hz:g}", "gain",
              f"{part.gain_db:g}"])  # fmt: skip
    elif part.kind == "silence":
        _run([sox, "-n", *fmt, str(out), "trim", "0", f"{part.seconds:g}"])
    else:
        raise MediaError(f"unknown sound part {part.kind!r}")


def render(sound: Sound, directory: Path) -> Path:
    """`directory/<name>.ulaw` (raw mu-law), made unless the same recipe was made before."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{sound.name}.ulaw"
    stamp = directory / f"{sound.name}.recipe"
    digest = hashlib.sha256(sound.recipe().encode()).hexdigest()
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    sox = _need("sox")
    with tempfile.TemporaryDirectory(prefix="carrier-media-") as tmp:
        pieces = []
        for i, part in enumerate(sound.parts):
            piece = Path(tmp) / f"{i:03d}.wav"
            _part_wav(part, piece)
            pieces.append(str(piece))
        joined = Path(tmp) / "joined.wav"
        _run([sox, *pieces, str(joined)] if len(pieces) > 1 else [sox, pieces[0], str(joined)])
        if sound.noise_db is not None:
            noisy = Path(tmp) / "noisy.wav"
            length = Path(tmp) / "noise.wav"
            seconds = _seconds(joined)
            _run([sox, "-n", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(length), "synth",
                  f"{seconds:.3f}", "whitenoise", "gain", f"{sound.noise_db:g}"])  # fmt: skip
            _run([sox, "-m", str(joined), str(length), str(noisy)])
            joined = noisy
        _run([sox, str(joined), "-t", "raw", "-r", str(RATE), "-c", "1", "-e", "mu-law", str(target)])
    stamp.write_text(digest)
    return target


def _seconds(wav: Path) -> float:
    proc = subprocess.run([_need("soxi"), "-D", str(wav)], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                          check=True)  # fmt: skip
    return float(proc.stdout.strip())


def seconds_of(parts: Sequence[Part], upto: int) -> float:
    """Where part `upto` starts, in seconds (speech lengths measured by rendering them)."""
    total = 0.0
    with tempfile.TemporaryDirectory(prefix="carrier-len-") as tmp:
        for i, part in enumerate(parts[:upto]):
            if part.kind in ("tone", "silence"):
                total += part.seconds
                continue
            piece = Path(tmp) / f"{i}.wav"
            _part_wav(part, piece)
            total += _seconds(piece)
    return total


# -- RFC 2833 key presses ---------------------------------------------------------------------
EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
TELEPHONE_EVENT_PT = 101  # the carrier's SDP maps telephone-event to 101, as Asterisk offers it


def key_pcap(path: Path, keys: str, ssrc: int, seq: int, timestamp: int, press_ms: int = 120,
             gap_ms: int = 130) -> Path:  # fmt: skip
    """RFC 2833 events for `keys` as a pcap for SIPp's play_pcap_audio: each key pressed for
    `press_ms` (an event packet every 20 ms, then three end packets), `gap_ms` between keys.

    Each file needs its own ssrc and a sequence number and RTP timestamp above the previous
    file's: Asterisk drops an event whose timestamp it has already seen ended.
    """
    if not keys or any(k not in EVENT_CODES for k in keys):
        raise ValueError(f"keys {keys!r}: only 0-9 * #")
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap header, Ethernet
    at = 0.0

    def packet(marker: bool, event: int, end: bool, duration: int) -> None:
        rtp = struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | TELEPHONE_EVENT_PT, seq & 0xFFFF,
                          timestamp & 0xFFFFFFFF, ssrc)  # fmt: skip
        rtp += struct.pack(">BBH", event, (0x80 if end else 0) | 10, duration)
        udp = struct.pack(">HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\x7f\0\0\1", b"\x7f\0\0\1") + udp
        frame = b"\0" * 12 + b"\x08\x00" + ip
        sec = int(at)
        out.append(struct.pack("<IIII", sec, int(round((at - sec) * 1e6)), len(frame), len(frame)) + frame)

    steps = max(1, press_ms // 20)
    for key in keys:
        event = EVENT_CODES[key]
        for i in range(steps):
            packet(i == 0, event, False, (i + 1) * 160)
            seq += 1
            at += 0.02
        for _ in range(3):
            packet(False, event, True, steps * 160)
            seq += 1
        at += gap_ms / 1000
        timestamp += (press_ms + gap_ms) * RATE // 1000
    path.write_bytes(b"".join(out))
    return path
