"""What a return call plays: the campaign's flow entered at its identity step, after a greeting that
says who called and why (`return_greeting`: company and the campaign's [return_calls] reason, nothing
personal); for an unknown or shared number, the configured flow (a message and the queue)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from dialer.ivr.flow import END, Flow, Step, load
from dialer.ivr.prompt_book import Job, PromptBook

UNKNOWN_FLOW = Path(__file__).resolve().parent / "return_unknown.toml"
GREETING_STEP = "return_greeting"
IDENTITY_STEP = "return_identity"  # added when the campaign's flow has no identity step of its own
DEFAULT_REASON = {"es": "su cuenta", "en": "your account", "pl": "Twojego konta"}


def return_flow(flow: Flow) -> Flow:
    """The flow a matched caller runs: greeting, then the flow's own identity step and on."""
    steps = dict(flow.steps)
    identity = next((s for s in flow.steps.values() if s.type == "identity"), None)
    if identity is None:  # nothing personal before identity: a return call always asks
        spec = {"type": "identity", "confirm_name": True, "tries": 3, "next": _after_greeting(flow), "failed": END}
        identity = steps[IDENTITY_STEP] = Step(IDENTITY_STEP, "identity", spec)
    steps[GREETING_STEP] = Step(GREETING_STEP, "say", {"type": "say", "prompt": "return_greeting",
                                                       "next": identity.name})  # fmt: skip
    return Flow(f"{flow.name}+return", GREETING_STEP, steps, dict(flow.anytime), flow.source)


def _after_greeting(flow: Flow) -> str:
    """The first step after answering-machine detection and the greeting (where the message starts)."""
    name = flow.start
    for _ in range(len(flow.steps)):
        if name == END:
            break
        step = flow.step(name)
        if step.type == "amd":
            name = str(step.get("human"))
        elif step.type == "say" and step.get("prompt") == "greeting":
            name = step.next
        else:
            break
    return name


def unknown_flow(path: str = "") -> Flow:
    return load(path or str(UNKNOWN_FLOW))


class ReturnBook(PromptBook):
    """A campaign's prompt book with the return call's `reason` among the shared values."""

    def __init__(self, flow: Flow, lang: str, settings: Mapping[str, Any], cache: Any = None) -> None:
        super().__init__(flow, lang, settings, cache)
        conf = settings.get("return_calls") or {}
        self.reason = str(conf.get("reason") or DEFAULT_REASON.get(lang, DEFAULT_REASON["en"]))

    def campaign_values(self) -> dict[str, str]:
        return {**super().campaign_values(), "reason": self.reason}

    def contact_values(self, name: str | None, fields: Mapping[str, Any]) -> dict[str, str]:
        return {**super().contact_values(name, fields), "reason": self.reason}

    def call_jobs(self, today: date, who: str, name: str | None, fields: Mapping[str, Any]) -> list[Job]:
        """Every text this call may play (shared ones, date read-backs, the contact's own)."""
        jobs = list(self.campaign_jobs(today))
        if who:
            jobs += list(self.contact_jobs(who, name, fields))
        return jobs
