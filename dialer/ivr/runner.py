"""Runs one flow on one answered call: steps, keys, facts, and the outcome it reached.

The runner talks to the call through a channel (FastAGI in the daemon, or a process AGI script)
and plays only files rendered ahead (PromptBook): see dialer.ivr.call. Captures and transfers are
in dialer.ivr.capture and dialer.ivr.transfer, texts in dialer.ivr.sms_step. Identity digits are stored as "*"s, never logged. A hang-up at any point
ends the flow: `hung_up_early` at that step, unless the message was already delivered. Anything
else that stops the flow (a prompt not rendered, an AGI link that stops answering, a bug) is an
error: the call is hung up and ends as `ivr_error` at that step (CallReport.final).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from dialer.domain import Outcome
from dialer.ivr.agi import AgiError, AgiHangup
from dialer.ivr.call import CallReport, Jump
from dialer.ivr.capture import CaptureSteps
from dialer.ivr.flow import END, Step
from dialer.ivr.prompt_book import PromptMissing
from dialer.ivr.sms_step import SmsSteps
from dialer.ivr.transfer import TransferSteps
from dialer.ivr.voicemail import wait_for_message_start
from prompts.templates import TemplateError

log = logging.getLogger(__name__)

MAX_STEPS = 200  # a flow that loops (repeat, retry) still ends


class FlowRunner(CaptureSteps, TransferSteps, SmsSteps):
    """The steps of dialer.ivr.flow, each a method `_<type>` returning the next step's name."""

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
                except Jump as jump:
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
        except Exception as exc:  # the flow cannot go on: ivr_error, the report kept
            expected = isinstance(exc, PromptMissing | TemplateError | AgiError)
            log.error("attempt %s: flow %s stopped at step %s: %s", self.ctx.attempt_id, self.flow.name,
                      self.report.step, exc, exc_info=not expected)  # fmt: skip
            self.report.error = str(exc) or type(exc).__name__
            self.report.details["error"] = self.report.error
        if not self.report.hung_up:
            try:
                await self.ch.hangup()
            except AgiError:
                pass  # hung up, or a link that no longer answers: the call ends either way
        return self.report

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
        # after the beep (res_tonedetect), else after the greeting's end (silence): dialer.ivr.voicemail
        after, hz = await wait_for_message_start(self.ch, step)
        self.report.details["message_after"] = after
        self.event("fact", "voicemail", f"{after} {hz} Hz" if hz else after)
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
