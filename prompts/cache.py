"""Content-addressed prompt audio: the same text is never rendered twice.

The key is a hash of (text, language, voice, backend, format). A render goes to a temporary
file in the same directory and is renamed into place, so two renders of one text at once never
leave a broken file: the later rename simply replaces an identical one.

Renders hold personal data (names, amounts): files are 0640 and directories 0750, so only the
dialer's user and its group (Asterisk joins it to play them) can read them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dialer.config import prompt_cache_dir
from prompts.audio import to_asterisk_wav
from prompts.tts import Backend, TtsUnavailable, backend

log = logging.getLogger(__name__)

FORMAT = "wav8k-3"  # in the key: new output bytes render anew (3: silence around spliced segments is zeros)
FILE_MODE, DIR_MODE = 0o640, 0o750


@dataclass
class PromptCache:
    root: Path = field(default_factory=prompt_cache_dir)
    renders: int = 0  # how many times a backend was actually called (for tests and benchmarks)

    def key(self, text: str, lang: str, voice: str | None, backend_name: str) -> str:
        blob = json.dumps([text, lang, voice, backend_name, FORMAT], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def lookup(self, text: str, lang: str, voice: str | None, backend_name: str) -> Path | None:
        path = self.path(self.key(text, lang, voice, backend_name))
        return path if path.exists() else None

    def render(
        self,
        text: str,
        lang: str,
        *,
        backend_name: str = "espeak-ng",
        voice: str | None = None,
        fallback: str | None = None,
    ) -> Path:
        """The cached file for this text, rendering it first if needed.

        If the backend is unavailable (gTTS offline or rate-limited) and `fallback` names
        another backend, that one renders it instead (cached under its own key).
        """
        found = self.lookup(text, lang, voice, backend_name)
        if found is not None:
            return found
        try:
            return self._render(text, lang, voice, backend(backend_name))
        except TtsUnavailable as exc:
            if not fallback or fallback == backend_name:
                raise
            log.warning("%s; falling back to %s", exc, fallback)
            return self.render(text, lang, backend_name=fallback, voice=None)

    def _render(self, text: str, lang: str, voice: str | None, tts: Backend) -> Path:
        path = self.path(self.key(text, lang, voice, tts.name))
        data, fmt = tts.render(text, lang, voice)
        self.renders += 1
        wav = to_asterisk_wav(data, fmt)
        for directory in (self.root, path.parent):
            if not directory.is_dir():
                directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(directory, DIR_MODE)  # mkdir's mode goes through the umask
        fd, tmp = tempfile.mkstemp(prefix=".render-", suffix=".wav", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(wav)
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def playback_name(path: Path) -> str:
    """What Asterisk's Playback/STREAM FILE takes: the absolute path without its extension."""
    return str(path.with_suffix(""))
