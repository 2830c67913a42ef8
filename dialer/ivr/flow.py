"""IVR flows as data: steps read from TOML, checked before any call is made.

A flow is a start step and named steps. Each step has a `type`:

- say:      play `prompt`, then go to `next`.
- amd:      read the dialplan's AMD verdict: `human`, `machine` and `notsure` name the next steps
            (notsure defaults to the campaign's choice, else human).
- machine:  listen until the greeting is over: a beep (`beep_hz`), or a pause (`pause_ms`) with
            no sound after it; at most `beep_wait_s` (or `wait_s`). Then play `prompt` (the machine
            message) and end as machine (dialer.ivr.voicemail).
- identity: "If you are {name}, press 1" (`confirm_name`) and/or digits checked against the
            contact field `digits_field`; at most `tries`; `next` on success, `failed` otherwise.
- menu:     play `prompt`, map `keys` to next steps; `timeout_s`, `retries`, `invalid` and
            `no_input` prompts, `on_no_input` step when the retries are used up.
- capture:  digits as a `date` (DDMM) or an `amount`, read back with `readback` and confirmed with
            1; stored as the fact `fact`; `next`, and `failed` when it cannot be captured.
- transfer: Queue() to the campaign's queue; `next` when the call comes back with no agent.
- sms:      queue the text `template` to the caller after the call (dialer.ivr.sms_step), with
            the date and amount of the fact `fact` (a promise to pay); skipped without [sms].
- outcome:  set the outcome (`answered`, `opted_out`, ...), play `prompt` if any, then `next`.
- hangup:   end the call.

`anytime` maps keys that, pressed during any prompt, jump to a step (0 -> agent). A step with
`completes = true` marks the message as delivered: a hang-up after it ends as `answered`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
END = "end"  # the implicit last step: hang up
WHISPER = "agent_whisper"  # what the agent hears before the bridge (a transfer step's `whisper` names another)
STEP_TYPES = {"say", "amd", "machine", "identity", "menu", "capture", "transfer", "sms", "outcome", "hangup"}
OUTCOMES = {"answered", "opted_out", "identity_failed", "transferred", "machine", "hung_up_early"}
KEYS = set("0123456789*#")

# per step type: field -> (python type, required)
_FIELDS: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "say": {"prompt": (str, True), "next": (str, False)},
    "amd": {"human": (str, True), "machine": (str, True), "notsure": (str, False)},
    "machine": {"prompt": (str, True), "wait_s": ((int, float), False), "beep_hz": (list, False),
                "beep_wait_s": ((int, float), False), "pause_ms": (int, False)},
    "identity": {
        "confirm_name": (bool, False), "digits_field": (str, False), "digits": (int, False),
        "tries": (int, False), "next": (str, True), "failed": (str, True), "timeout_s": ((int, float), False),
    },
    "menu": {
        "prompt": (str, True), "keys": (dict, True), "timeout_s": ((int, float), False), "retries": (int, False),
        "invalid": (str, False), "no_input": (str, False), "on_no_input": (str, False),
        "fact": (str, False), "values": (dict, False),
    },
    "capture": {
        "kind": (str, True), "prompt": (str, True), "readback": (str, False), "fact": (str, True),
        "max_digits": (int, False), "max_days": (int, False), "tries": (int, False), "timeout_s": ((int, float), False),
        "terminator": (str, False), "next": (str, True), "failed": (str, False), "branches": (dict, False),
        "invalid": (str, False),
    },
    "transfer": {"prompt": (str, False), "queue": (str, False), "timeout_s": (int, False), "next": (str, False),
                 "whisper": (str, False)},
    "sms": {"template": (str, True), "fact": (str, False), "next": (str, False)},
    "outcome": {"outcome": (str, True), "prompt": (str, False), "next": (str, False)},
    "hangup": {},
}  # fmt: skip
_COMMON = {"type": (str, True), "completes": (bool, False)}
# fields naming other steps (checked to exist)
_STEP_REFS = ("next", "human", "machine", "notsure", "failed", "on_no_input")


def branch_range(key: str) -> tuple[int, int] | None:
    """ "0-6" -> (0, 6), "7" -> (7, 7); None when it is neither."""
    low, _, high = key.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        return None
    return int(low), int(high or low)


class FlowError(ValueError):
    """A flow file that cannot run; the message names the file and the step and field."""


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    spec: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    @property
    def next(self) -> str:
        return str(self.spec.get("next", END))

    @property
    def completes(self) -> bool:
        return bool(self.spec.get("completes", False))

    def prompts(self) -> list[str]:
        """Template keys this step may play."""
        keys = [self.spec[k] for k in ("prompt", "readback", "invalid", "no_input") if k in self.spec]
        if self.type == "identity":
            if self.spec.get("confirm_name", True):
                keys.append("identity_question")
            if self.spec.get("digits_field"):
                keys.append("identity_digits")
            keys.append("identity_failed")
        if self.type == "transfer":
            keys += ["transfer_wait", "no_agent", str(self.spec.get("whisper") or WHISPER)]
        if self.type == "menu":
            keys += [k for k in ("invalid_key", "no_input") if k not in keys]
        if self.type == "capture" and self.spec.get("kind") == "amount":
            keys += [f"digit_{d}" for d in "0123456789"]
        return keys


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    steps: Mapping[str, Step]
    anytime: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def step(self, name: str) -> Step:
        return self.steps[name]

    def prompt_keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for step in self.steps.values():
            for key in step.prompts():
                seen.setdefault(key, None)
        return list(seen)

    def capture_steps(self, kind: str) -> list[Step]:
        return [s for s in self.steps.values() if s.type == "capture" and s.spec.get("kind") == kind]


def parse(data: Mapping[str, Any], source: str) -> Flow:
    """A checked Flow from a TOML table; every problem is reported at once."""
    errors: list[str] = []
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, dict) or not steps_raw:
        raise FlowError(f"{source}: steps: a flow needs a [steps.NAME] table")
    for key in data:
        if key not in {"name", "start", "steps", "anytime", "description"}:
            errors.append(f"{source}: {key}: unknown key")
    steps: dict[str, Step] = {}
    for name, spec in steps_raw.items():
        where = f"{source}: steps.{name}"
        if not isinstance(spec, dict):
            errors.append(f"{where}: expected a table")
            continue
        kind = spec.get("type")
        if kind not in STEP_TYPES:
            errors.append(f"{where}.type: expected one of {', '.join(sorted(STEP_TYPES))}, got {kind!r}")
            continue
        allowed = {**_COMMON, **_FIELDS[kind]}
        for key, value in spec.items():
            if key not in allowed:
                errors.append(f"{where}.{key}: unknown field for a {kind} step")
            elif not isinstance(value, allowed[key][0]) or (allowed[key][0] is int and isinstance(value, bool)):
                errors.append(f"{where}.{key}: wrong type {type(value).__name__}")
        for key, (_, required) in allowed.items():
            if required and key not in spec:
                errors.append(f"{where}.{key}: missing")
        steps[name] = Step(name, kind, spec)
    names = set(steps) | {END}
    for step in steps.values():
        where = f"{source}: steps.{step.name}"
        for ref in _STEP_REFS:
            target = step.spec.get(ref)
            if isinstance(target, str) and target not in names:
                errors.append(f"{where}.{ref}: no step {target!r}")
        for table in ("keys", "branches"):
            for key, target in (step.spec.get(table) or {}).items():
                if table == "keys" and key not in KEYS:
                    errors.append(f"{where}.keys: {key!r} is not a phone key")
                if table == "branches" and branch_range(key) is None:
                    errors.append(f"{where}.branches: {key!r} is not N or N-M")
                if target not in names:
                    errors.append(f"{where}.{table}.{key}: no step {target!r}")
        if step.type == "capture" and step.spec.get("kind") not in {"date", "amount", "digits"}:
            errors.append(f"{where}.kind: expected date, amount or digits")
        if step.type == "outcome" and step.spec.get("outcome") not in OUTCOMES:
            errors.append(f"{where}.outcome: expected one of {', '.join(sorted(OUTCOMES))}")
        if step.type == "machine" and not all(
                isinstance(f, int) and 100 <= f <= 3900 for f in step.spec.get("beep_hz", [])):  # fmt: skip
            errors.append(f"{where}.beep_hz: expected frequencies in Hz, 100 to 3900")
        if step.type == "identity" and not (step.spec.get("confirm_name", True) or step.spec.get("digits_field")):
            errors.append(f"{where}: needs confirm_name or digits_field")
    start = data.get("start")
    if start not in steps:
        errors.append(f"{source}: start: no step {start!r}")
    anytime = data.get("anytime") or {}
    for key, target in anytime.items() if isinstance(anytime, dict) else []:
        if key not in KEYS or target not in names:
            errors.append(f"{source}: anytime.{key}: expected a phone key and a step")
    if errors:
        raise FlowError("\n".join(errors))
    return Flow(str(data.get("name") or Path(source).stem), str(start), steps, dict(anytime), source)


def load_file(path: Path) -> Flow:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise FlowError(f"{path}: no such flow file") from None
    except tomllib.TOMLDecodeError as exc:
        raise FlowError(f"{path}: {exc}") from None
    return parse(data, str(path))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


CAMPAIGN_ROUTE = "campaign"  # the AGI path of a campaign with its own flow file


def routes() -> set[str]:
    """AGI paths the IVR answers: a built-in flow's name, or `campaign`."""
    return {*builtin_names(), CAMPAIGN_ROUTE}


def load(name_or_path: str) -> Flow:
    """A built-in flow by name (notify, collections, ...) or a flow file by path."""
    if name_or_path in builtin_names():
        return load_file(BUILTIN_DIR / f"{name_or_path}.toml")
    if name_or_path.endswith(".toml"):
        return load_file(Path(name_or_path))
    raise FlowError(f"unknown flow {name_or_path!r} (built-in: {', '.join(builtin_names())}, or a .toml path)")
