"""The [[strategy]] steps of a campaign file, checked by the scheduler's own rules (scheduler.strategy)
and reported as FILE:LINE: KEY: reason, every problem at once."""

from __future__ import annotations

from typing import Any

from dialer.campaigns.toml_checks import Checker
from dialer.campaigns.toml_lines import KeyPath
from scheduler.strategy import KEY, problems


def check_strategy(c: Checker, path: KeyPath, value: Any, doc: dict[str, Any]) -> bool:
    found = problems({KEY: value})
    for problem in found:
        c.error(problem.path, problem.reason)
    if not found and "sms" not in doc:
        for i, step in enumerate(value):
            if step.get("channel") == "sms":
                c.error((KEY, i, "channel"), "an SMS step needs the campaign's [sms] table (its sender and gateway)")
    return not found
