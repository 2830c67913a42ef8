"""TTS renders, the audio format Asterisk wants, and the content-addressed cache."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydub import AudioSegment

from prompts.cache import PromptCache
from prompts.tts import TtsUnavailable


@pytest.mark.parametrize(("lang", "text"), [("es", "Hola, buenos días."), ("en", "Hello there."),
                                            ("pl", "Dzień dobry.")])  # fmt: skip
def test_espeak_renders_8khz_mono_16bit_audio(tmp_path: Path, lang: str, text: str) -> None:
    path = PromptCache(tmp_path).render(text, lang)
    audio = AudioSegment.from_wav(path)
    assert (audio.frame_rate, audio.channels, audio.sample_width) == (8000, 1, 2)
    assert audio.duration_seconds > 0.3


def test_a_cache_hit_renders_nothing(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    first = cache.render("Su deuda vence mañana.", "es")
    second = PromptCache(tmp_path)
    assert second.render("Su deuda vence mañana.", "es") == first
    assert (cache.renders, second.renders) == (1, 0)
    assert cache.render("Su deuda vence mañana.", "en") != first  # the language is part of the key


def test_renders_of_one_text_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    caches = [PromptCache(tmp_path) for _ in range(4)]
    paths: list[Path] = []
    threads = [threading.Thread(target=lambda c=c: paths.append(c.render("Uno dos tres.", "es"))) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(paths)) == 1
    assert AudioSegment.from_wav(paths[0]).duration_seconds > 0.3
    assert [p.name for p in paths[0].parent.iterdir()] == [paths[0].name]  # no temporary file left


def test_gtts_unreachable_is_a_clear_error_and_falls_back_when_allowed(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    # a real gTTS request to a host that cannot exist (.invalid), so it fails on any machine
    with pytest.raises(TtsUnavailable, match="gTTS unreachable"):
        cache.render("Hola.", "es", backend_name="gtts", voice="invalid")
    path = cache.render("Hola.", "es", backend_name="gtts", voice="invalid", fallback="espeak-ng")
    assert path == cache.lookup("Hola.", "es", None, "espeak-ng")


def test_cli_say_prints_the_cached_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli import app

    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path))
    first = CliRunner().invoke(app, ["prompts", "say", "Buenos días", "--lang", "es"])
    second = CliRunner().invoke(app, ["prompts", "say", "Buenos días", "--lang", "es"])
    assert first.exit_code == 0 and first.output == second.output
    path = Path(first.output.strip())
    assert path.is_file() and path.is_relative_to(tmp_path / "prompts")
    bad = CliRunner().invoke(app, ["prompts", "say", "x", "--backend", "festival"])
    assert bad.exit_code == 1 and "unknown TTS backend 'festival'" in bad.output
