"""The transfer step: the caller to a call-center queue, with context for the agent, and what the
queue reported (agent answered, wait)."""

from __future__ import annotations

import json
import logging
import time

from dialer.domain import Outcome
from dialer.ivr.agi import AgiHangup
from dialer.ivr.call import CallBase
from dialer.ivr.flow import END, WHISPER, Step
from dialer.ivr.prompt_book import PromptMissing
from prompts.templates import TemplateError

log = logging.getLogger(__name__)

QUEUE_TALK_S = 3600  # how long a transferred call may stay with an agent


class TransferSteps(CallBase):
    async def _transfer(self, step: Step) -> str:
        conf = self.ctx.settings.get("transfer") or {}
        queue = str(step.get("queue") or conf.get("queue") or "collections")
        timeout_s = int(step.get("timeout_s") or conf.get("timeout_s", 60))
        await self.play(step.get("prompt", "transfer_wait"))
        # the whisper: the agent hears it on answer, before the bridge (Queue's announceoverride);
        # rendered ahead with the contact's personal audio (name, amount; the step names what was chosen)
        try:
            whisper = self.path(str(step.get("whisper") or WHISPER))
        except (PromptMissing, TemplateError, KeyError) as exc:  # no contact (an unknown return caller),
            log.warning("attempt %s: no whisper for the agent (%s); transferring without it",  # or no render:
                        self.ctx.attempt_id, exc)  # the caller still reaches the agent  # fmt: skip
            whisper = ""
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
            await self.ch.exec("Queue", queue, "c", "", whisper, str(timeout_s), timeout=timeout_s + QUEUE_TALK_S)
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
