"""Which audio files a campaign plays, rendered before it dials and only looked up during calls.

A call plays one file per prompt and no text-to-speech runs on the call path. With espeak-ng, a
contact's personal sentence is spliced from segments (prompts.splice): the fixed text, rendered
once per worker, and the contact's name, amount, concept and dates; other backends render whole
sentences ("Registramos un saldo pendiente de doce mil quinientos pesos ...").
Read-backs of a captured date are rendered for every date a caller may enter (today up to the
step's max_days, plus a horizon), and captured amounts are read back digit by digit from ten
rendered digits. README.md ("Prompts") gives the measurements behind this choice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dialer.ivr.flow import Flow
from prompts.cache import PromptCache
from prompts.speech import SpeechError, amount_groups, amount_phrases, name_words, say_amount, say_date
from prompts.splice import spliced, worded
from prompts.templates import Prompt, TemplateError, Templates, placeholders
from prompts.tts import BACKENDS

log = logging.getLogger(__name__)

CONTACT_PLACEHOLDERS = {"name", "amount", "due_date", "concept", "appointment_date"}
DEFAULT_CURRENCY = {"es": "EUR", "en": "USD", "pl": "PLN"}
DATE_PLACEHOLDERS = ("promise_date", "captured_date")  # a date read-back fills either


class PromptMissing(LookupError):
    """A prompt the call needs has not been rendered (run `dialer prompts render CAMPAIGN`)."""


@dataclass(frozen=True)
class Job:
    """One text to render (or find in the cache); `who` names the contact for error messages.

    `text` is the sentence as said; `source`, what is rendered and looked up: the same text, or
    its parts joined by prompts.splice.SEP when the sentence is spliced.
    """

    key: str
    text: str
    who: str = ""
    source: str = ""

    @property
    def render_text(self) -> str:
        return self.source or self.text


def _parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


class PromptBook:
    """A campaign's templates, voice and personal values; maps (key, values) to audio files."""

    def __init__(self, flow: Flow, lang: str, settings: Mapping[str, Any], cache: PromptCache | None = None) -> None:
        self.flow = flow
        self.lang = lang
        self.cache = cache or PromptCache()
        self.templates = Templates(lang, (settings.get("prompts") or {}).get(lang))
        tts = settings.get("tts") or {}
        self.backend = str(tts.get("backend", "espeak-ng"))
        self.voice: str | None = tts.get("voice")
        self.fallback: str | None = tts.get("fallback")
        self.splices = bool(getattr(BACKENDS.get(self.backend), "splices", False))
        self.currency = str(settings.get("currency") or DEFAULT_CURRENCY.get(lang, "EUR"))
        self.company = str(settings.get("company") or "")
        self.keys = flow.prompt_keys()

    # -- values ----------------------------------------------------------------------------
    def contact_values(self, name: str | None, fields: Mapping[str, Any]) -> dict[str, str]:
        """Placeholder values of one contact, already in words; absent fields are left out."""
        values = {"company": self.company}
        if name:
            values["name"] = name
        if fields.get("concept"):
            values["concept"] = str(fields["concept"])
        if fields.get("amount") not in (None, ""):
            try:
                values["amount"] = say_amount(Decimal(str(fields["amount"])), self.currency, self.lang)
            except InvalidOperation:
                raise TemplateError(f"amount: {fields['amount']!r} is not a number") from None
            except SpeechError as exc:
                raise TemplateError(f"amount: {exc}") from None
        for field in ("due_date", "appointment_date"):
            if fields.get(field) not in (None, ""):
                try:
                    values[field] = say_date(_parse_date(fields[field]), self.lang)
                except ValueError:
                    raise TemplateError(f"{field}: {fields[field]!r} is not a date (YYYY-MM-DD)") from None
        return values

    def contact_fields(self) -> set[str]:
        """The contact's values (name, amount, due_date, ...) the flow's personal prompts say."""
        found: set[str] = set()
        for key in self.keys:
            if key not in self.templates.files and key in self.templates.texts:
                found |= placeholders(self.templates.texts[key]) & CONTACT_PLACEHOLDERS
        return found

    def contact_problems(self, name: str | None, fields: Mapping[str, Any]) -> list[str]:
        """Every value of one contact the flow cannot say, at once: "FIELD: reason" each."""
        problems = []
        for field in sorted(self.contact_fields()):
            value = name if field == "name" else fields.get(field)
            if value in (None, ""):
                problems.append(f"{field}: missing (the campaign's prompts say {{{field}}})")
                continue
            try:
                self.contact_values(name if field == "name" else None, {field: value})
            except TemplateError as exc:
                problems.append(str(exc))
        return problems

    def campaign_values(self) -> dict[str, str]:
        return {"company": self.company}

    def date_values(self, day: date) -> dict[str, str]:
        words = say_date(day, self.lang)
        return {**self.campaign_values(), **{name: words for name in DATE_PLACEHOLDERS}}

    def is_personal(self, key: str) -> bool:
        return key not in self.templates.files and bool(placeholders(self.templates.texts[key]) & CONTACT_PLACEHOLDERS)

    def date_keys(self) -> dict[str, int]:
        """Read-back template keys of date captures and how many days ahead they accept."""
        out: dict[str, int] = {}
        for step in self.flow.capture_steps("date"):
            if step.get("readback"):
                out[step.get("readback")] = max(out.get(step.get("readback"), 0), int(step.get("max_days", 30)))
        return out

    # -- what to render ----------------------------------------------------------------------
    def campaign_jobs(self, today: date, horizon_days: int = 0) -> Iterator[Job]:
        """Prompts shared by every contact, and date read-backs from today on."""
        dates = self.date_keys()
        for key in self.keys:
            if key in self.templates.files or self.is_personal(key) or key in dates:
                continue
            yield self._job(key, self.campaign_values())
        for key, days in dates.items():
            for offset in range(days + horizon_days + 1):
                day = today + timedelta(days=offset)
                yield self._job(key, self.date_values(day))

    def contact_jobs(self, who: str, name: str | None, fields: Mapping[str, Any]) -> Iterator[Job]:
        """Personal prompts of one contact; a missing or bad field raises TemplateError naming it."""
        values = self.contact_values(name, fields)
        for key in self.keys:
            if self.is_personal(key):
                yield self._job(key, values, who)

    def _job(self, key: str, values: Mapping[str, str], who: str = "") -> Job:
        prompt = self.templates.prompt(key, values)
        assert prompt.text is not None
        if self.splices and self.is_personal(key):
            return Job(key, prompt.text, who, spliced(self.templates.parts(key, values, self._phrases(values))))
        return Job(key, prompt.text, who)

    def _phrases(self, values: Mapping[str, str]) -> dict[str, list[str]]:
        """Each contact value as the phrases it is spliced from: cents apart, and a name and an
        amount said in the words and groups that repeat across contacts (prompts.splice.WORD)."""
        out = {name: [values[name]] for name in CONTACT_PLACEHOLDERS if name in values}
        if "name" in out:
            out["name"] = [worded(name_words(values["name"]))]
        if "amount" in out:
            out["amount"] = [worded(amount_groups(p, self.lang)) for p in amount_phrases(values["amount"], self.lang)]
        return out

    def render(self, job: Job) -> Path:
        return self.cache.render(
            job.render_text, self.lang, backend_name=self.backend, voice=self.voice, fallback=self.fallback
        )

    def lookup_text(self, text: str) -> Path | None:
        found = self.cache.lookup(text, self.lang, self.voice, self.backend)
        if found is None and self.fallback and self.fallback != self.backend:
            found = self.cache.lookup(text, self.lang, None, self.fallback)
        return found

    def missing(self, jobs: Iterable[Job]) -> list[Job]:
        return [job for job in jobs if self.lookup_text(job.render_text) is None]

    # -- during a call -------------------------------------------------------------------------
    def path(self, key: str, values: Mapping[str, str]) -> Path:
        """The file to play for `key` with these values; PromptMissing if it was never rendered."""
        prompt: Prompt = self.templates.prompt(key, values)
        if prompt.file is not None:
            return prompt.file
        found = self.lookup_text(self._job(key, values).render_text)
        if found is None:
            raise PromptMissing(f"prompt {key!r} ({self.lang}) is not rendered: run `dialer prompts render`")
        return found
