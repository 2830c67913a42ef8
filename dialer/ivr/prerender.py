"""Render everything a campaign will play before it dials; check that nothing is missing.

`plan()` lists the texts (shared prompts, date read-backs, every pending contact's personal
sentences); `render()` renders them in a pool of long-lived worker processes, one espeak-ng
synthesiser each (prompts.render_pool): `dialer prompts render`, for operators who want it all
upfront. `check()` says what is missing. The daemon needs none of it: `shared_texts()` is what it
renders when a campaign starts, and `ContactScreen` what each claim asks of each contact (the
texts of its personal audio, prepared at the claim: dialer.ivr.jit_audio).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.domain import Disposition
from dialer.ivr.calendar import date_span, world_span
from dialer.ivr.flow import Flow, FlowError, load
from dialer.ivr.prompt_book import Job, PromptBook
from dialer.storage.models import Campaign, Contact, Phone
from prompts.render_pool import RenderPool, TtsSettings, render_texts
from prompts.templates import TemplateError

log = logging.getLogger(__name__)

HORIZON_DAYS = 7  # date read-backs are rendered this many days beyond a capture's max_days
IN_PROCESS_JOBS = 64  # fewer jobs than this render in this process: starting workers costs more


@dataclass
class Plan:
    book: PromptBook
    jobs: list[Job] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "contact ID: field: reason"
    contacts: int = 0


def campaign_flow(flow: str, settings: Mapping[str, Any]) -> Flow:
    """A campaign's flow: settings["flow_file"] when given, else the named built-in."""
    return load(str(settings.get("flow_file") or flow))


def book_for(campaign: Campaign) -> PromptBook:
    return PromptBook(campaign_flow(campaign.flow, campaign.settings), campaign.language, campaign.settings)


def plan(session: Session, campaign: Campaign, now: datetime, horizon_days: int = HORIZON_DAYS) -> Plan:
    """Every distinct text the campaign's pending contacts may hear; date read-backs from the
    earliest of their local dates on (dialer.ivr.calendar), as their calls will resolve them."""
    book = book_for(campaign)
    out = Plan(book)
    seen: set[str] = set()

    def add(job: Job) -> None:
        if job.render_text not in seen:
            seen.add(job.render_text)
            out.jobs.append(job)

    pending = (Contact.campaign_id == campaign.id, Contact.disposition == Disposition.PENDING)
    first, last = _date_span(session, campaign, now)
    for job in book.campaign_jobs(first, horizon_days + (last - first).days):
        add(job)
    rows = session.execute(
        select(Contact.external_id, Contact.name, Contact.fields).where(*pending).order_by(Contact.id)
    )
    for external_id, name, fields in rows:
        out.contacts += 1
        problems = book.contact_problems(name, fields or {})
        if problems:  # every field at once, not the first one per run
            out.errors.append(f"contact {external_id}: {'; '.join(problems)}")
            continue
        try:
            for job in book.contact_jobs(external_id, name, fields or {}):
                add(job)
        except TemplateError as exc:
            out.errors.append(f"contact {external_id}: {exc}")
    return out


def _date_span(session: Session, campaign: Campaign, now: datetime) -> tuple[date, date]:
    """The earliest and latest local "today" of the campaign's pending contacts."""
    pending = (Contact.campaign_id == campaign.id, Contact.disposition == Disposition.PENDING)
    zones = session.execute(select(Contact.timezone, Phone.number).join(Phone, isouter=True).where(*pending).distinct())
    return date_span(now, zones, campaign.settings, campaign.default_region)


def render(plan_: Plan, workers: int | None = None, progress: Callable[[int], Any] | None = None) -> int:
    """Render (or find in the cache) every job; how many were actually rendered.

    `workers` processes (default: one per core); with one worker or a small plan, this process
    renders. `progress(n)` is called as each batch of n jobs is done.
    """
    book = plan_.book
    tts = TtsSettings(book.lang, book.backend, book.voice, book.fallback)
    texts = [job.render_text for job in plan_.jobs]
    if workers == 1 or len(texts) < IN_PROCESS_JOBS:
        rendered = render_texts(book.cache.root, tts, texts)
        if progress is not None:
            progress(len(texts))
    else:
        with RenderPool(workers) as pool:
            rendered = pool.render(book.cache.root, tts, texts, progress)
    book.cache.renders += rendered
    return rendered


@dataclass(frozen=True)
class Check:
    missing: int
    errors: list[str]
    example: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.errors

    def message(self, name: str) -> str:
        parts = []
        if self.missing:
            parts.append(f"{self.missing} prompts not rendered (e.g. {self.example!r})")
        if self.errors:
            parts.append(f"{len(self.errors)} contacts cannot be spoken to ({self.errors[0]})")
        return f"campaign {name}: {'; '.join(parts)}: run `dialer prompts render {name}`"


class ContactScreen:
    """Asked by each claim of each due contact: why it may not be called (its fields cannot be
    spoken: the claim parks it with the reason), or None. Keeps the texts of each contact it let
    through: the engine prepares that audio at the claim (take())."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign.name
        self.book = book_for(campaign)
        self.tts = TtsSettings(self.book.lang, self.book.backend, self.book.voice, self.book.fallback)
        self.texts: dict[int, list[str]] = {}

    def __call__(self, contact: Contact) -> str | None:
        try:
            jobs = list(self.book.contact_jobs(contact.external_id, contact.name, contact.fields or {}))
        except TemplateError as exc:
            return f"its fields cannot be spoken ({exc}): correct the contact"
        self.texts[contact.id] = [job.render_text for job in jobs]
        return None

    def take(self, contact_ids: list[int]) -> dict[int, list[str]]:
        """The personal texts of the claimed contacts; the rest (not claimed) are forgotten."""
        found = {cid: self.texts[cid] for cid in contact_ids if cid in self.texts}
        self.texts.clear()
        return found


def shared_texts(campaign: Campaign, now: datetime, horizon_days: int = HORIZON_DAYS) -> tuple[PromptBook, list[str]]:
    """The texts every contact shares (date read-backs from the earliest "today" on Earth on: no
    contact is read), rendered when the campaign starts; FlowError or TemplateError if it cannot
    speak."""
    book = book_for(campaign)
    first, last = world_span(now)
    texts = dict.fromkeys(job.render_text for job in book.campaign_jobs(first, horizon_days + (last - first).days))
    return book, list(texts)


def check(session: Session, campaign: Campaign, now: datetime) -> Check:
    """What the daemon asks before dialing: is every prompt of every pending contact rendered?"""
    try:
        found = plan(session, campaign, now, horizon_days=0)
    except (FlowError, TemplateError) as exc:
        return Check(0, [str(exc)])
    missing = found.book.missing(found.jobs)
    return Check(len(missing), found.errors, missing[0].text[:60] if missing else "")
