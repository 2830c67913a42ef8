"""Fast preparation of prompt audio: libespeak-ng in process, resampling in process, splicing, workers."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from dialer.ivr import prerender
from dialer.ivr.flow import load
from dialer.ivr.prompt_book import PromptBook
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.models import Campaign
from prompts import espeak_lib, joins
from prompts.cache import PromptCache
from prompts.espeak_render import Renderer, program_pcm
from prompts.resample import to_8k
from prompts.splice import SEP, WORD
from prompts.templates import Templates
from tests.campaigns import make_campaign, new_database

SETTINGS = {"company": "Gas Sur", "currency": "ARS"}
CURRENCY = {"es": "ARS", "en": "USD", "pl": "PLN"}
ANA = {"amount": "12500.50", "due_date": "2026-11-20", "concept": "la factura de gas"}
ROOT = Path(__file__).resolve().parents[1]


def samples_of(path: Path) -> tuple[np.ndarray, tuple[int, int, int]]:
    with wave.open(str(path)) as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        return np.frombuffer(wav.readframes(wav.getnframes()), np.int16), shape


def spliced_jobs(lang: str = "es", name: str = "Ana Pérez") -> dict[str, str]:
    settings = {**SETTINGS, "currency": CURRENCY[lang]}
    book = PromptBook(load("collections"), lang, settings, PromptCache(Path("/nonexistent")))
    return {job.key: job.render_text for job in book.contact_jobs("c1", name, ANA)}


@pytest.mark.parametrize(("voice", "texts"), [
    ("es", ["Registramos un saldo pendiente de doce mil quinientos pesos.", "Ana Pérez", "¿Qué tan probable es?"]),
    ("en-us", ["Hello, this is a call for John Smith.", "twelve thousand dollars"]),
    ("pl", ["Dzień dobry, dwudziestego listopada.", "Zażółć gęślą jaźń"]),
])  # fmt: skip
def test_the_library_speaks_exactly_like_the_program_whatever_came_before(voice: str, texts: list[str]) -> None:
    library = espeak_lib.shared()
    for text in texts + texts[::-1]:  # each text after a different one, and after a change of voice
        assert library.pcm(text, voice) == program_pcm(text, voice), text
        library.pcm("Hola otra vez.", "es")


def test_an_unknown_voice_is_an_error_and_the_library_goes_on() -> None:
    library = espeak_lib.shared()
    with pytest.raises(espeak_lib.LibraryError, match="no voice 'xx-nowhere'"):
        library.pcm("hola", "xx-nowhere")
    assert library.pcm("Ana Pérez", "es") == program_pcm("Ana Pérez", "es")


def test_resampling_keeps_the_telephone_band_and_removes_what_would_alias() -> None:
    t = np.arange(22050) / 22050

    def level_db(freq: float) -> float:
        out = to_8k((np.sin(2 * np.pi * freq * t) * 16000).astype(np.int16))[400:-400].astype(float)
        return float(20 * np.log10(np.sqrt(np.mean(out**2)) / (16000 / np.sqrt(2))))

    assert len(to_8k(np.zeros(22050, np.int16))) == 8000
    for freq in (300, 1000, 2000, 3000):
        assert abs(level_db(freq)) < 0.2, freq
    assert level_db(3400) > -1.0
    for freq in (4500, 5000, 7000, 10000):  # would fold back into 0-4 kHz
        assert level_db(freq) < -60, freq


def test_spliced_sentences_are_8khz_mono_16bit_speech_of_a_sane_length(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    for key, text in spliced_jobs().items():
        assert SEP in text
        samples, shape = samples_of(cache.render(text, "es"))
        whole, _ = samples_of(cache.render(text.replace(SEP, " ").replace(WORD, " "), "es"))
        assert shape == (8000, 1, 2)
        assert 0.85 < len(samples) / len(whole) < 1.2, key  # spliced speech lasts about as long as whole
        speech = np.mean(np.abs(samples.astype(np.int32)) >= joins.SILENCE_LEVEL)
        assert speech > 0.5 and np.max(np.abs(samples)) > 8000, key  # mostly speech, and loud enough
    assert cache.renders == 8  # three personal sentences (the agent's whisper too), spliced and whole


@pytest.mark.parametrize("lang", ["es", "en", "pl"])
def test_no_join_holds_more_than_150_ms_of_silence(lang: str) -> None:
    renderer = Renderer()
    voice = {"es": "es", "en": "en-us", "pl": "pl"}[lang]
    measured = []
    for name in ("Ana Pérez", "José Muñoz García"):
        for text in spliced_jobs(lang, name).values():
            samples, at = renderer.samples(text, voice)
            said = [w for p in text.split(SEP) if p.strip(".,") for w in p.split(WORD)]
            assert len(at) == len(said) - 1
            measured += [joins.silence_ms(samples, j) for j in at]
    assert measured and max(measured) <= joins.MAX_JOIN_SILENCE_MS
    assert min(measured) >= 2 * joins.PAD_MS  # the words are not glued together either


def test_the_same_text_gives_the_same_bytes_in_any_process_and_order(tmp_path: Path) -> None:
    texts = list(spliced_jobs().values())
    first = PromptCache(tmp_path / "a")
    paths = [first.render(t, "es") for t in texts]
    second = PromptCache(tmp_path / "b")
    again = [second.render(t, "es") for t in reversed(texts)][::-1]
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    assert [p.name for p in paths] == [p.name for p in again]  # content-addressed: the same names
    code = ("import sys; from pathlib import Path; from prompts.cache import PromptCache; "
            "c = PromptCache(Path(sys.argv[1])); [c.render(t, 'es') for t in sys.argv[2:]]")  # fmt: skip
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "c"), *texts], cwd=ROOT, check=True, timeout=60)
    for path in paths:
        assert (tmp_path / "c" / path.parent.name / path.name).read_bytes() == path.read_bytes()


def test_without_the_library_the_espeak_ng_program_gives_the_same_bytes(tmp_path: Path) -> None:
    texts = [*spliced_jobs().values(), "Hola, le llamamos de Gas Sur."]
    code = ("import sys, logging; from pathlib import Path; from prompts.cache import PromptCache; "
            "logging.basicConfig(); c = PromptCache(Path(sys.argv[1])); "
            "print('\\n'.join(str(c.render(t, 'es')) for t in sys.argv[2:]))")  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "DIALER_ESPEAK_LIBRARY": "/nonexistent/libespeak-ng.so.1"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "program"), *texts], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    assert "cannot load /nonexistent/libespeak-ng.so.1" in proc.stderr
    assert "espeak-ng runs as a program per segment instead" in proc.stderr
    cache = PromptCache(tmp_path / "library")
    for text, line in zip(texts, proc.stdout.split(), strict=True):
        assert Path(line).read_bytes() == cache.render(text, "es").read_bytes()


def test_gtts_gets_a_spliced_text_as_one_sentence(tmp_path: Path) -> None:
    from prompts.tts import Gtts

    parts = Templates("es").parts("identity_question", {"name": "Ana"}, {"name": ["Ana"]})
    assert parts == ["Esta es una llamada para", "Ana", ". Si usted es", "Ana", ", presione uno."]
    assert Gtts.splices is False
    book = PromptBook(load("collections"), "es", {**SETTINGS, "tts": {"backend": "gtts"}}, PromptCache(tmp_path))
    jobs = list(book.contact_jobs("c1", "Ana", ANA))
    assert jobs and all(job.render_text == job.text and SEP not in job.text for job in jobs)


def test_prompts_render_uses_worker_processes_and_calls_find_every_file(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))
    url = new_database(str(tmp_path / "d.db"))
    people = [{"name": f"Cliente {i}", **ANA, "amount": str(1000 + i)} for i in range(30)]
    cid = make_campaign(url, "fast", [sim_number("human", tag=i) for i in range(30)], people=people, render=False,
                        flow="collections", settings=SETTINGS)  # fmt: skip
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        found = prerender.plan(s, campaign, datetime(2026, 11, 1, 12, tzinfo=UTC), horizon_days=0)
        assert len(found.jobs) > prerender.IN_PROCESS_JOBS
        done: list[int] = []
        assert prerender.render(found, workers=2, progress=done.append) == len(found.jobs)
        assert sum(done) == len(found.jobs) and len(done) > 1
        assert prerender.check(s, campaign, datetime(2026, 11, 1, 12, tzinfo=UTC)).ok
    engine.dispose()
    book = PromptBook(load("collections"), "es", SETTINGS)
    path = book.path("debt_message", book.contact_values("Cliente 7", {**ANA, "amount": "1007"}))
    job = next(j for j in book.contact_jobs("c7", "Cliente 7", {**ANA, "amount": "1007"}) if j.key == "debt_message")
    assert SEP in job.render_text
    samples, _ = Renderer().samples(job.render_text, "es")  # what this process makes of it
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(_wav(samples)).digest()


def _wav(samples: np.ndarray) -> bytes:
    from prompts.audio import wav_bytes

    return wav_bytes(samples)


@pytest.mark.parametrize(("lang", "currency", "amount", "phrases"), [
    ("es", "ARS", "12500.50", ["doce mil quinientos pesos", "con cincuenta centavos"]),
    ("es", "ARS", "21", ["veintiún pesos"]),
    ("en", "USD", "105.20", ["one hundred and five dollars", "and twenty cents"]),
    ("en", "USD", "105", ["one hundred and five dollars"]),  # the "and" inside a number stays
    ("pl", "PLN", "1.01", ["jeden złoty,", "jeden grosz"]),
])  # fmt: skip
def test_cents_are_a_phrase_of_their_own(lang: str, currency: str, amount: str, phrases: list[str]) -> None:
    from prompts.speech import amount_phrases, say_amount

    words = say_amount(amount, currency, lang)
    assert amount_phrases(words, lang) == phrases and " ".join(phrases) == words


@pytest.mark.parametrize(("lang", "phrase", "groups"), [
    ("es", "catorce mil quinientos veinticinco pesos", ["catorce mil", "quinientos veinticinco pesos"]),
    ("es", "un millón de pesos", ["un millón de", "pesos"]),
    ("es", "dos millones quinientos mil euros", ["dos millones", "quinientos mil", "euros"]),
    ("es", "novecientos noventa y nueve pesos", ["novecientos noventa y nueve pesos"]),
    ("en", "fourteen thousand five hundred and twenty-five dollars", ["fourteen thousand", "five hundred and twenty-five dollars"]),
    ("pl", "czternaście tysięcy pięćset dwadzieścia pięć złotych,", ["czternaście tysięcy", "pięćset dwadzieścia pięć złotych,"]),
    ("pl", "milion dwieście tysięcy złotych", ["milion", "dwieście tysięcy", "złotych"]),
])  # fmt: skip
def test_an_amount_is_said_in_the_groups_that_repeat(lang: str, phrase: str, groups: list[str]) -> None:
    from prompts.speech import amount_groups

    assert amount_groups(phrase, lang) == groups and " ".join(groups) == phrase


@pytest.mark.parametrize(("name", "words"), [
    ("Tomás Ruiz Muñoz", ["Tomás", "Ruiz", "Muñoz"]),
    ("María del Carmen de la Fuente", ["María", "del Carmen", "de la Fuente"]),
    ("Jan Kowalski", ["Jan", "Kowalski"]),
    ("Ludwig van", ["Ludwig van"]),
])  # fmt: skip
def test_a_name_is_said_word_by_word_with_its_particles(name: str, words: list[str]) -> None:
    from prompts.speech import name_words

    assert name_words(name) == words


def test_a_warm_worker_says_a_new_contact_without_the_synthesiser() -> None:
    """Contacts whose name words and amount groups were said before cost no synthesis: the
    personal audio is put together from words in memory (what makes 200 contacts/s possible)."""
    renderer = Renderer()
    for name, amount in (("Ana Ruiz Pérez", "14525.81"), ("Luis Gil Sáenz", "3100.20")):
        book = PromptBook(load("collections"), "es", SETTINGS, PromptCache(Path("/nonexistent")))
        for job in book.contact_jobs("c1", name, {**ANA, "amount": amount}):
            renderer.samples(job.render_text, "es")
    spoken = renderer.synthesised
    for job in book.contact_jobs("c2", "Luis Ruiz Sáenz", {**ANA, "amount": "3525.81"}):  # all said before
        samples, at = renderer.samples(job.render_text, "es")
        assert len(samples) > 8000 and at
    assert renderer.synthesised == spoken
    for job in book.contact_jobs("c3", "Eva Ruiz Sáenz", {**ANA, "amount": "3525.81"}):  # one new word
        renderer.samples(job.render_text, "es")
    assert renderer.synthesised == spoken + 1
