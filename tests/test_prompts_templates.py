"""Prompt templates: every language says every sentence, overrides are checked, values fill in."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts.templates import PLACEHOLDERS, TemplateError, Templates, builtin, languages, placeholders


def test_every_language_has_every_prompt_with_the_same_placeholders() -> None:
    assert languages() == ["en", "es", "pl"]
    reference = builtin("es")
    for lang in languages():
        texts = builtin(lang)
        assert set(texts) == set(reference), lang
        for key, text in texts.items():
            assert placeholders(text) == placeholders(reference[key]), (lang, key)
            assert placeholders(text) <= PLACEHOLDERS


def test_values_fill_the_template() -> None:
    prompt = Templates("es").prompt("debt_message", {
        "amount": "doce mil quinientos pesos", "concept": "la factura de octubre", "due_date": "el veinte de noviembre",
    })  # fmt: skip
    assert prompt.text == (
        "Registramos un saldo pendiente de doce mil quinientos pesos por la factura de octubre, "
        "con vencimiento el veinte de noviembre."
    )


def test_overrides_text_and_recorded_file(tmp_path: Path) -> None:
    wav = tmp_path / "hola.wav"
    wav.write_bytes(b"RIFF")
    t = Templates("en", {"goodbye": "Bye, {name}!", "greeting": {"file": str(wav)}})
    assert t.prompt("goodbye", {"name": "Ana"}).text == "Bye, Ana!"
    assert t.prompt("greeting", {}).file == wav


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"farewell": "x"}, "prompts.es.farewell: no such prompt"),
        ({"goodbye": "Adiós {nombre}"}, "prompts.es.goodbye: unknown placeholder {nombre}"),
        ({"goodbye": {"file": "relative.wav"}}, "recorded file relative.wav not found"),
        ({"goodbye": 3}, "expected a text or"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        Templates("es", overrides)


def test_a_missing_value_or_language_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"prompts.pl.greeting: no value for \{company\}"):
        Templates("pl").prompt("greeting", {})
    with pytest.raises(TemplateError, match="no prompts for language 'fr'"):
        Templates("fr")
