"""One answered call as the IVR sees it: the channel it talks through, what it knows (CallContext),
what it reports (events, outcome, details), and playing or asking with prompts rendered ahead.
Every step entered and every key pressed is an event, in order; keys are never logged (they may
be identity digits)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from dialer.domain import Outcome
from dialer.ivr.flow import Flow
from dialer.ivr.prompt_book import PromptBook
from prompts.cache import playback_name

log = logging.getLogger(__name__)


class Channel(Protocol):
    async def stream_file(self, path: str, escape_digits: str = "") -> str | None: ...
    async def get_data(self, path: str, timeout_ms: int, max_digits: int) -> tuple[str, bool]: ...
    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...
    async def get_variable(self, name: str) -> str | None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int: ...
    async def hangup(self) -> None: ...


@dataclass(frozen=True)
class CallContext:
    """What the IVR knows about the call: the attempt, its contact and its campaign."""

    attempt_id: str
    campaign_id: int
    campaign: str
    contact_id: int
    external_id: str
    number: str
    name: str | None
    fields: Mapping[str, Any]
    language: str
    flow: str
    settings: Mapping[str, Any]
    timezone: str | None = None  # the contact's own zone; with the number, its calendar (ivr.calendar)
    default_region: str = "ES"


@dataclass(frozen=True)
class IvrEventRow:
    seq: int
    at: datetime
    kind: str  # step | key | fact
    name: str
    value: str | None = None


@dataclass
class CallReport:
    outcome: Outcome | None = None
    step: str | None = None
    completed: bool = False
    hung_up: bool = False
    error: str | None = None  # why the flow could not go on (a prompt missing, the AGI link broken)
    details: dict[str, Any] = field(default_factory=dict)
    events: list[IvrEventRow] = field(default_factory=list)

    def final(self) -> tuple[Outcome, str | None]:
        """The outcome to record, and the step reached when that matters. An outcome the flow
        decided wins (opted_out still lists the number), except `answered`: a flow that broke
        before its end is `ivr_error`, at the step where it broke."""
        if self.outcome is not None and not (self.error is not None and self.outcome == Outcome.ANSWERED):
            return self.outcome, self.step if self.outcome == Outcome.HUNG_UP_EARLY else None
        if self.error is not None:
            return Outcome.IVR_ERROR, self.step
        if self.hung_up and not self.completed:
            return Outcome.HUNG_UP_EARLY, self.step
        return Outcome.ANSWERED, None


class Jump(Exception):
    """An `anytime` key: go to that step now."""

    def __init__(self, step: str) -> None:
        self.step = step


class CallBase:
    """What every kind of step uses: the call's report, its events, and prompts."""

    def __init__(self, channel: Channel, ctx: CallContext, flow: Flow, book: PromptBook, *,
                 today: date | None = None, on_event: Callable[[IvrEventRow], None] | None = None,
                 report: CallReport | None = None) -> None:  # fmt: skip
        self.ch = channel
        self.ctx = ctx
        self.flow = flow
        self.book = book
        self.today = today or datetime.now(UTC).date()
        self.on_event = on_event
        self.report = report if report is not None else CallReport()  # the caller may hold it
        self.values: dict[str, str] = {}
        self.anytime = "".join(flow.anytime)

    # -- bookkeeping -------------------------------------------------------------------------
    def event(self, kind: str, name: str, value: str | None = None) -> None:
        row = IvrEventRow(len(self.report.events) + 1, datetime.now(UTC), kind, name, value)
        self.report.events.append(row)
        if kind != "key":  # keys may be identity digits: never logged
            log.debug("attempt %s: %s %s %s", self.ctx.attempt_id, kind, name, value or "")
        if self.on_event is not None:
            self.on_event(row)

    def key_path(self) -> str:
        return ">".join(f"{e.name}:{e.value}" for e in self.report.events if e.kind == "key")

    # -- playing ----------------------------------------------------------------------------
    def path(self, key: str, extra: Mapping[str, str] | None = None) -> str:
        return playback_name(self.book.path(key, {**self.values, **(extra or {})}))

    async def play(self, key: str, escape: str = "", extra: Mapping[str, str] | None = None) -> str | None:
        """Play a prompt; a key in `escape` is returned, an `anytime` key jumps."""
        pressed = await self.ch.stream_file(self.path(key, extra), escape + self.anytime)
        return self._pressed(pressed, escape)

    def _pressed(self, key: str | None, wanted: str) -> str | None:
        if key is not None and key not in wanted and key in self.flow.anytime:
            self.event("key", self.report.step or "", key)
            raise Jump(self.flow.anytime[key])
        return key

    async def ask(self, key: str, escape: str, timeout_s: float, extra: Mapping[str, str] | None = None) -> str | None:
        """Play a question and wait for one key (pressed during it or after it)."""
        pressed = await self.play(key, escape, extra)
        if pressed is None:
            pressed = self._pressed(await self.ch.wait_for_digit(int(timeout_s * 1000)), escape)
        return pressed
