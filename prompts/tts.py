"""Text-to-speech backends behind one interface; none of them runs on the call path.

- espeak-ng: offline, the default (Debian package espeak-ng): libespeak-ng in this process, or
  the espeak-ng program if the library cannot be loaded, resampled here (prompts.espeak_render);
  it splices texts made of parts (prompts.splice) and returns audio ready for Asterisk.
- gTTS: online; unreachable or rate-limited (HTTP 429) raises a clear TtsUnavailable. It returns
  MP3, which prompts.audio converts for Asterisk (pydub with ffmpeg).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from typing import ClassVar, Protocol

from prompts.audio import READY
from prompts.splice import SEP

log = logging.getLogger(__name__)

ESPEAK_VOICES = {"es": "es", "en": "en-us", "pl": "pl"}
GTTS_LANGS = {"es": "es", "en": "en", "pl": "pl"}


class TtsError(RuntimeError):
    """Rendering failed; the message says which backend and why."""


class TtsUnavailable(TtsError):
    """The backend cannot be reached right now (offline, rate-limited): another may do."""


class Backend(Protocol):
    name: str
    splices: ClassVar[bool]  # renders a text of parts (prompts.splice) as segments joined

    def render(self, text: str, lang: str, voice: str | None) -> tuple[bytes, str]:
        """(audio bytes, format: "mp3", or "wav8k" when already what Asterisk plays)."""
        ...


@dataclass
class Espeak:
    name: str = "espeak-ng"
    splices: ClassVar[bool] = True

    def render(self, text: str, lang: str, voice: str | None) -> tuple[bytes, str]:
        from prompts import espeak_render  # here, not at the top: numpy stays off the call path

        chosen = voice or ESPEAK_VOICES.get(lang)
        if chosen is None:
            raise TtsError(f"espeak-ng: no voice for language {lang!r}")
        try:
            return espeak_render.renderer().wav(text, chosen), READY
        except espeak_render.SynthesisMissing as exc:
            raise TtsUnavailable(str(exc)) from None
        except espeak_render.SynthesisError as exc:
            raise TtsError(str(exc)) from None
        except subprocess.TimeoutExpired:
            raise TtsError(f"espeak-ng took too long on {text[:40]!r}") from None


@dataclass
class Gtts:
    name: str = "gtts"
    timeout_s: float = 10.0
    splices: ClassVar[bool] = False

    def render(self, text: str, lang: str, voice: str | None) -> tuple[bytes, str]:
        import io

        from gtts import gTTS
        from gtts.tts import gTTSError

        if lang not in GTTS_LANGS:
            raise TtsError(f"gTTS: language {lang!r} not supported here")
        text = " ".join(text.split(SEP))  # a spliced text (a fallback for espeak-ng) said whole
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
