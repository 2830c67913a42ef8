"""Runs one flow on one answered call: steps, keys, facts, and the outcome it reached.

The runner talks to the call through a channel (FastAGI in the daemon, or a process AGI script)
and plays only files rendered ahead (PromptBook). Every step entered and every key pressed is
an event, in order; identity digits are stored as "*"s and never logged. A hang-up at any point
ends the flow: `hung_up_early` at that step, unless the message was already delivered.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from dialer.domain import Outcome
from dialer.ivr.agi import AgiError, AgiHangup
from dialer.ivr.flow import END, Flow, Step, branch_range
from dialer.ivr.prompt_book import PromptBook, PromptMissing
from prompts.cache import playback_name
from prompts.templates import TemplateError

log = logging.getLogger(__name__)

MAX_STEPS = 200  # a flow that loops (repeat, retry) still ends
QUEUE_TALK_S = 3600  # how long a transferred call may stay with an agent


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
    details: dict[str, Any] = field(default_factory=dict)
    events: list[IvrEventRow] = field(default_factory=list)

    def final(self) -> tuple[Outcome, str | None]:
        """The outcome to record, and the step reached when that matters."""
        if self.outcome is not None:
            return self.outcome, self.step if self.outcome == Outcome.HUNG_UP_EARLY else None
        if self.hung_up and not self.completed:
            return Outcome.HUNG_UP_EARLY, self.step
        return Outcome.ANSWERED, None


class _Jump(Exception):
    def __init__(self, step: str) -> None:
        self.step = step


def resolve_ddmm(digits: str, today: date, max_days: int) -> date | None:
    """DDMM typed by a caller -> the next such date from today on, if within max_days."""
    if len(digits) != 4 or not digits.isdigit():
        return None
    day, month = int(digits[:2]), int(digits[2:])
    for year in (today.year, today.year + 1):
        try:
            found = date(year, month, day)
        except ValueError:
            return None
        if found >= today:
            return found if found <= today + timedelta(days=max_days) else None
    return None


class FlowRunner:
    def __init__(self, channel: Channel, ctx: CallContext, flow: Flow, book: PromptBook, *,
                 today: date | None = None, on_event: Callable[[IvrEventRow], None] | None = None) -> None:
        self.ch = channel
        self.ctx = ctx
        self.flow = flow
        self.book = book
        self.today = today or datetime.now(UTC).date()
        self.on_event = on_event
        self.report = CallReport()
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

    async def run(self) -> CallReport:
        name = self.flow.start
        try:
            self.values = self.book.contact_values(self.ctx.name, self.ctx.fields)
            for _ in range(MAX_STEPS):
                if name == END:
                    break
                step = self.flow.step(name)
                self.report.step = step.name
                self.event("step", step.name)
                try:
                    name = await getattr(self, f"_{step.type}")(step)
                except _Jump as jump:
                    name = jump.step
                    continue
                if step.completes:
                    self.report.completed = True
            else:
                log.warning("attempt %s: flow %s ran %d steps; ending it", self.ctx.attempt_id, self.flow.name,
                            MAX_STEPS)  # fmt: skip
        except AgiHangup:
            self.report.hung_up = True
            log.info("attempt %s: hung up at step %s", self.ctx.attempt_id, self.report.step)
        except (PromptMissing, TemplateError, AgiError) as exc:
            log.error("attempt %s: flow %s stopped at step %s: %s", self.ctx.attempt_id, self.flow.name,
                      self.report.step, exc)  # fmt: skip
            self.report.details["error"] = str(exc)
        if not self.report.hung_up:
            try:
                await self.ch.hangup()
            except AgiHangup:
                pass
        return self.report

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
            raise _Jump(self.flow.anytime[key])
        return key

    async def ask(self, key: str, escape: str, timeout_s: float, extra: Mapping[str, str] | None = None) -> str | None:
        """Play a question and wait for one key (pressed during it or after it)."""
        pressed = await self.play(key, escape, extra)
        if pressed is None:
            pressed = self._pressed(await self.ch.wait_for_digit(int(timeout_s * 1000)), escape)
        return pressed

    # -- steps (each returns the next step's name) --------------------------------------------
    async def _say(self, step: Step) -> str:
        await self.play(step.get("prompt"))
        return step.next

    async def _hangup(self, step: Step) -> str:
        return END

    async def _outcome(self, step: Step) -> str:
        self.report.outcome = Outcome(step.get("outcome"))
        if step.get("prompt"):
            await self.play(step.get("prompt"))
        return step.next

    async def _amd(self, step: Step) -> str:
        status = (await self.ch.get_variable("AMDSTATUS") or "").upper()
        if not status:  # AMD skipped (DIALER_AMD=no): a person is on the line
            status = "HUMAN"
        self.report.details["amd"] = status
        self.event("fact", "amd", status)
        if status == "MACHINE":
            return str(step.get("machine"))
        if status == "HUMAN":
            return str(step.get("human"))
        choice = step.get("notsure") or (self.ctx.settings.get("amd") or {}).get("notsure", "human")
        return str(step.get(choice) if choice in ("human", "machine") else choice)

    async def _machine(self, step: Step) -> str:
        self.report.outcome = Outcome.MACHINE
        self.report.details["message_left"] = False
        wait_s = float(step.get("wait_s", 20))
        # the end of the greeting: 1.5 s of silence (the beep is shorter), at most wait_s
        await self.ch.exec("WaitForSilence", "1500", "1", f"{wait_s:g}", timeout=wait_s + 10)
        await self.ch.stream_file(self.path(step.get("prompt")), "")
        self.report.details["message_left"] = True
        return step.next

    async def _identity(self, step: Step) -> str:
        tries = int(step.get("tries", 3))
        timeout_s = float(step.get("timeout_s", 5))
        field_name = step.get("digits_field")
        for _ in range(tries):
            if step.get("confirm_name", True):
                key = await self.ask("identity_question", "123456789*#", timeout_s)
                self.event("key", step.name, key or "")
                if key != "1":
                    continue
            if field_name:
                wanted = str(self.ctx.fields.get(field_name) or "")
                size = int(step.get("digits", 4))
                digits, _ = await self.ch.get_data(self.path("identity_digits"), int(timeout_s * 1000), size)
                self.event("key", step.name, "*" * len(digits))
                if not wanted or digits != wanted[-size:]:
                    continue
            self.event("fact", "identity", "passed")
            return step.next
        self.event("fact", "identity", "failed")
        self.report.outcome = Outcome.IDENTITY_FAILED
        await self.play("identity_failed")
        return str(step.get("failed", END))

    async def _menu(self, step: Step) -> str:
        keys: Mapping[str, str] = step.get("keys")
        timeout_s = float(step.get("timeout_s", 5))
        for _ in range(int(step.get("retries", 2)) + 1):
            key = await self.ask(step.get("prompt"), "".join(keys), timeout_s)
            if key is None:
                await self.play(step.get("no_input", "no_input"))
                continue
            self.event("key", step.name, key)
            if key in keys:
                if step.get("fact"):
                    self.event("fact", step.get("fact"), (step.get("values") or {}).get(key, key))
                return keys[key]
            await self.play(step.get("invalid", "invalid_key"))
        return str(step.get("on_no_input", END))

    async def _capture(self, step: Step) -> str:
        kind = step.get("kind")
        timeout_ms = int(float(step.get("timeout_s", 6)) * 1000)
        max_digits = int(step.get("max_digits", 4 if kind == "date" else 9))
        for _ in range(int(step.get("tries", 3))):
            digits, _ = await self.ch.get_data(self.path(step.get("prompt")), timeout_ms, max_digits)
            self.event("key", step.name, digits)
            value, extra, target = self._parse_capture(step, digits)
            if value is None:
                await self.play(step.get("invalid", "invalid_key"))
                continue
            if step.get("readback"):
                confirm = await self._readback(step, kind, digits, extra)
                self.event("key", f"{step.name}_confirm", confirm or "")
                if confirm != "1":
                    continue
            self.event("fact", step.get("fact"), value)
            return target
        return str(step.get("failed", END))

    def _parse_capture(self, step: Step, digits: str) -> tuple[str | None, dict[str, str], str]:
        kind = step.get("kind")
        if kind == "date":
            day = resolve_ddmm(digits, self.today, int(step.get("max_days", 30)))
            if day is None:
                return None, {}, step.next
            fact: dict[str, str] = {"date": day.isoformat()}
            if self.ctx.fields.get("amount") not in (None, ""):
                fact["amount"] = str(self.ctx.fields["amount"])
            return json.dumps(fact), self.book.date_values(day), step.next
        if not digits.isdigit():
            return None, {}, step.next
        branches: Mapping[str, str] = step.get("branches") or {}
        if not branches:
            return digits, {}, step.next
        for spec, target in branches.items():
            low, high = branch_range(spec) or (0, -1)
            if low <= int(digits) <= high:
                return digits, {}, target
        return None, {}, step.next

    async def _readback(self, step: Step, kind: str, digits: str, extra: Mapping[str, str]) -> str | None:
        timeout_s = float(step.get("timeout_s", 6))
        if kind == "date":
            return await self.ask(step.get("readback"), "12", timeout_s, extra)
        pressed = await self.play("amount_readback", "12")
        for digit in digits:
            pressed = pressed or await self.play(f"digit_{digit}", "12")
        return pressed or await self.ask(step.get("readback"), "12", timeout_s)

    async def _transfer(self, step: Step) -> str:
        conf = self.ctx.settings.get("transfer") or {}
        queue = str(step.get("queue") or conf.get("queue") or "collections")
        timeout_s = int(step.get("timeout_s") or conf.get("timeout_s", 60))
        await self.play(step.get("prompt", "transfer_wait"))
        for name, value in {
            "DIALER_CONTACT": str(self.ctx.contact_id), "DIALER_EXTERNAL_ID": self.ctx.external_id,
            "DIALER_CONTACT_NAME": self.ctx.name or "", "DIALER_AMOUNT": str(self.ctx.fields.get("amount", "")),
            "DIALER_CHOICE": self.key_path(),
        }.items():  # fmt: skip
            await self.ch.set_variable(name, value)
        self.report.outcome = Outcome.TRANSFERRED
        self.report.details.update(agent_answered=False, queue=queue)
        started = time.monotonic()
        try:
            # option c: when the agent hangs up, the caller comes back here (the flow ends the call)
            await self.ch.exec("Queue", queue, "c", "", "", str(timeout_s), timeout=timeout_s + QUEUE_TALK_S)
        finally:  # also when the caller hangs up while queued or talking
            await self._queue_result(queue, started)
        if self.report.details["agent_answered"]:
            return END
        await self.play("no_agent")
        self.report.details["callback_after_s"] = int(conf.get("callback_delay_s", 3600))
        return step.next

    async def _queue_result(self, queue: str, started: float) -> None:
        waited = round(time.monotonic() - started, 1)
        try:
            member = await self.ch.get_variable("MEMBERINTERFACE")
            hold = await self.ch.get_variable("QEHOLDTIME")
            status = await self.ch.get_variable("QUEUESTATUS")
        except AgiHangup:
            member = hold = status = None
        answered = bool(member)
        wait_s = float(hold) if answered and hold and hold.isdigit() else waited
        self.report.details.update(agent_answered=answered, queue_wait_s=wait_s)
        if status:
            self.report.details["queue_status"] = status
        self.event("fact", "transfer", json.dumps({"queue": queue, "agent_answered": answered, "queue_wait_s": wait_s}))
