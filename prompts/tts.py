"""Text-to-speech backends behind one interface; none of them runs on the call path.

- espeak-ng: offline, the default (Debian package espeak-ng).
- gTTS: online; unreachable or rate-limited (HTTP 429) raises a clear TtsUnavailable.
Each returns audio bytes in its own format; prompts.audio converts them for Asterisk.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

ESPEAK_VOICES = {"es": "es", "en": "en-us", "pl": "pl"}
GTTS_LANGS = {"es": "es", "en": "en", "pl": "pl"}


class TtsError(RuntimeError):
    """Rendering failed; the message says which backend and why."""


class TtsUnavailable(TtsError):
    """The backend cannot be reached right now (offline, rate-limited): another may do."""


class Backend(Protocol):
    name: str

    def render(self, text: str, lang: str, voice: str | None) -> tuple[bytes, str]:
        """(audio bytes, format: "wav" or "mp3")."""
        ...


@dataclass
class Espeak:
    name: str = "espeak-ng"
    timeout_s: float = 30.0

    def render(self, text: str, lang: str, voice: str | None) -> tuple[bytes, str]:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise TtsUnavailable("espeak-ng is not installed: apt-get install espeak-ng")
        chosen = voice or ESPEAK_VOICES.get(lang)
        if chosen is None:
            raise TtsError(f"espeak-ng: no voice for language {lang!r}")
        proc = subprocess.run(
            [binary, "-v", chosen, "--stdout", text], capture_output=True, timeout=self.timeout_s, check=False
        )
        if proc.returncode != 0 or not proc.stdout:
            raise TtsError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout, "wav"


@dataclass
class Gtts:
    name: str = "gtts"
    timeout_s: float = 10.0

    def render(self, text: str, lang: str, voice: str | None) -> tuple[bytes, str]:
        import io

        from gtts import gTTS
        from gtts.tts import gTTSError

        if lang not in GTTS_LANGS:
            raise TtsError(f"gTTS: language {lang!r} not supported here")
        buf = io.BytesIO()
        try:
            gTTS(text, lang=GTTS_LANGS[lang], tld=voice or "com", timeout=self.timeout_s).write_to_fp(buf)
        except gTTSError as exc:
            status = getattr(getattr(exc, "rsp", None), "status_code", None)
            if status == 429:
                raise TtsUnavailable("gTTS is rate-limited (HTTP 429): try later or use espeak-ng") from None
            raise TtsUnavailable(f"gTTS unreachable: {exc}") from None
        return buf.getvalue(), "mp3"


BACKENDS: dict[str, type[Espeak] | type[Gtts]] = {"espeak-ng": Espeak, "gtts": Gtts}


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]()
    except KeyError:
        raise TtsError(f"unknown TTS backend {name!r}: one of {', '.join(BACKENDS)}") from None
