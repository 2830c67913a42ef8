"""Prompt templates per language, and the operator's overrides.

Built-in texts live in prompts/templates/<lang>.toml. A campaign may override any of them with
its own text or a recorded file (campaign.settings["prompts"][lang][key] = "text" or
{"file": "/abs/path.wav"}). A template names placeholders like {amount}; the values arrive
already in words (prompts.speech), so the same text always renders to the same audio.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PLACEHOLDERS = {
    "name", "amount", "due_date", "concept", "company", "promise_date", "appointment_date", "captured_date",
    "reason",  # a return call: why the campaign called (settings [return_calls] reason)
}


class TemplateError(ValueError):
    """A template or an override cannot be used; the message names the language and key."""


@dataclass(frozen=True)
class Prompt:
    """What to play: a text to render, or an operator's recorded file."""

    key: str
    text: str | None = None
    file: Path | None = None


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def builtin(lang: str) -> dict[str, str]:
    path = TEMPLATE_DIR / f"{lang}.toml"
    if not path.exists():
        raise TemplateError(f"no prompts for language {lang!r} (have: {', '.join(languages())})")
    with path.open("rb") as fh:
        return {k: str(v) for k, v in tomllib.load(fh).items()}


def languages() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.toml"))


class Templates:
    def __init__(self, lang: str, overrides: Mapping[str, Any] | None = None) -> None:
        self.lang = lang
        self.texts = builtin(lang)
        self.files: dict[str, Path] = {}
        for key, value in (overrides or {}).items():
            where = f"prompts.{lang}.{key}"
            if key not in self.texts:
                raise TemplateError(f"{where}: no such prompt (one of {', '.join(sorted(self.texts))})")
            if isinstance(value, str):
                unknown = placeholders(value) - PLACEHOLDERS
                if unknown:
                    raise TemplateError(f"{where}: unknown placeholder {{{sorted(unknown)[0]}}}")
                self.texts[key] = value
            elif isinstance(value, Mapping) and isinstance(value.get("file"), str):
                path = Path(value["file"])
                if not path.is_absolute() or not path.exists():
                    raise TemplateError(f"{where}: recorded file {path} not found (use an absolute path)")
                self.files[key] = path
            else:
                raise TemplateError(f'{where}: expected a text or {{file = "/path.wav"}}')

    def prompt(self, key: str, values: Mapping[str, str]) -> Prompt:
        """The prompt `key` with its placeholders filled in; a missing value is an error."""
        if key in self.files:
            return Prompt(key, file=self.files[key])
        try:
            template = self.texts[key]
        except KeyError:
            raise TemplateError(f"prompts.{self.lang}: no prompt {key!r}") from None
        missing = placeholders(template) - set(values)
        if missing:
            raise TemplateError(f"prompts.{self.lang}.{key}: no value for {{{sorted(missing)[0]}}}")
        return Prompt(key, text=template.format(**values))

    def parts(self, key: str, values: Mapping[str, str], alone: Mapping[str, Sequence[str]]) -> list[str]:
        """The prompt's text in parts for splicing: a placeholder in `alone` becomes its phrases there
        (joined by spaces, they are its value); the rest of the text stays as written."""
        self.prompt(key, values)  # the same checks: a recorded file or a missing value is an error
        out = [""]
        for literal, name, spec, conversion in string.Formatter().parse(self.texts[key]):
            out[-1] += literal
            if name is None:
                continue
            field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            value = field.format(**values)
            if name in alone:
                out += [*alone[name], ""]
            else:
                out[-1] += value
        return [part for part in (p.strip() for p in out) if part]
