"""Contact strategies as data: the steps a campaign takes across a contact's numbers and channels,
each with the results that move the contact on to the next step. Pure: the caller passes rows'
values.

campaign.settings["strategy"] (an array of tables; none: today's behaviour, every number in turn):
    channel   "call" (default) or "sms"
    phone     for a call: "fixed", "mobile", "voip", "other" or "any" (default): the contact's first
              number of that type; a contact without one skips the step
    attempts  calls at this step that end in an `on` result before the next step (default 1)
    on        the results that count (default ["no_contact"]): "no_contact" (nobody answered: busy,
              no answer, congestion, failed, invalid number), "machine", or a dial result or
              outcome by name
    delay_s   seconds before the next step's first call (default 0)
    template  for an SMS: the text (default "missed_call")
The first step is a call. After the last step the contact is exhausted. A result not in `on`
follows the retry rules (a person reached settles the contact, as always).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEY = "strategy"
CHANNELS = ("call", "sms")
PHONES = ("fixed", "mobile", "voip", "other", "any")
NO_CONTACT = ("busy", "no_answer", "congestion", "failed", "invalid_number")
RESULTS = {"no_contact", "machine", "hung_up_early", "identity_failed", "ivr_error", "unknown", *NO_CONTACT}
STEP_KEYS = ("channel", "phone", "attempts", "on", "delay_s", "template")


class StrategyError(ValueError):
    """A bad strategy; `path` is the key (("strategy", 1, "phone")), the message the reason."""

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        super().__init__(f"{'.'.join(str(p) for p in path)}: {reason}")
        self.path, self.reason = path, reason


@dataclass(frozen=True)
class StrategyStep:
    channel: str = "call"
    phone: str = "any"
    attempts: int = 1
    on: frozenset[str] = frozenset({"no_contact"})
    delay_s: float = 0.0
    template: str = "missed_call"

    def counts(self, result: str) -> bool:
        """Does an attempt ending in `result` (a dial result or an outcome) count at this step?"""
        return result in self.on or ("no_contact" in self.on and result in NO_CONTACT)

    def describe(self) -> str:
        if self.channel == "sms":
            return f"an SMS ({self.template})"
        what = "any number" if self.phone == "any" else f"the {self.phone} number"
        return f"call {what} ({self.attempts} attempt{'s' if self.attempts != 1 else ''} on {', '.join(sorted(self.on))})"


@dataclass(frozen=True)
class Strategy:
    steps: tuple[StrategyStep, ...]

    def step(self, index: int) -> StrategyStep | None:
        return self.steps[index] if 0 <= index < len(self.steps) else None


def parse_strategy(settings: Mapping[str, Any]) -> Strategy | None:
    """The campaign's strategy, None without one; StrategyError names the first bad key."""
    raw = settings.get(KEY)
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise StrategyError((KEY,), "expected an array of tables ([[strategy]]), one per step")
    return Strategy(tuple(_step(i, item) for i, item in enumerate(raw)))


def problems(settings: Mapping[str, Any]) -> list[StrategyError]:
    """Every problem of the strategy at once (campaign files report them all)."""
    raw = settings.get(KEY)
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        return [StrategyError((KEY,), "expected an array of tables ([[strategy]]), one per step")]
    found: list[StrategyError] = []
    for i, item in enumerate(raw):
        found += _step_problems(i, item)
    return found


def _step(index: int, item: Any) -> StrategyStep:
    bad = _step_problems(index, item)
    if bad:
        raise bad[0]
    on = item.get("on", ["no_contact"])
    return StrategyStep(channel=item.get("channel", "call"), phone=item.get("phone", "any"),
                        attempts=int(item.get("attempts", 1)), on=frozenset(on), delay_s=float(item.get("delay_s", 0)),
                        template=str(item.get("template", "missed_call")))  # fmt: skip


def _step_problems(i: int, item: Any) -> list[StrategyError]:
    path: tuple[str | int, ...] = (KEY, i)
    if not isinstance(item, dict):
        return [StrategyError(path, "expected a table")]
    out = [StrategyError(path + (k,), f"unknown key (expected one of: {', '.join(STEP_KEYS)})")
           for k in item if k not in STEP_KEYS]  # fmt: skip
    channel = item.get("channel", "call")
    if channel not in CHANNELS:
        out.append(StrategyError(path + ("channel",), f"{channel!r} is not one of {', '.join(CHANNELS)}"))
    elif i == 0 and channel != "call":
        out.append(StrategyError(path + ("channel",), "the first step must be a call"))
    if item.get("phone", "any") not in PHONES:
        out.append(StrategyError(path + ("phone",), f"{item.get('phone')!r} is not one of {', '.join(PHONES)}"))
    attempts = item.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        out.append(StrategyError(path + ("attempts",), f"expected an integer 1..100, got {attempts!r}"))
    on = item.get("on", ["no_contact"])
    if not isinstance(on, list) or not on or not all(isinstance(r, str) for r in on):
        out.append(StrategyError(path + ("on",), "expected a list of results, e.g. [\"no_contact\", \"machine\"]"))
    else:
        out += [StrategyError(path + ("on",), f"{r!r} is not a result ({', '.join(sorted(RESULTS))})")
                for r in on if r not in RESULTS]  # fmt: skip
    delay = item.get("delay_s", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        out.append(StrategyError(path + ("delay_s",), f"expected seconds >= 0, got {delay!r}"))
    if "template" in item and (not isinstance(item["template"], str) or not item["template"].strip()):
        out.append(StrategyError(path + ("template",), "expected a template name"))
    return out


def phone_index(types: Sequence[str], step: StrategyStep) -> int | None:
    """Which of the contact's numbers (their types, in order) the step calls; None: it has none."""
    if step.phone == "any":
        return 0 if types else None
    return next((i for i, t in enumerate(types) if t == step.phone), None)
