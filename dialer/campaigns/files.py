"""Campaign files (campaign.toml): parsed with tomllib, checked, turned into a CampaignSpec.

Every problem is reported at once as `FILE:LINE: KEY: reason`; a file with any problem gives
no spec. Top-level keys are the campaign's columns plus the settings tables below; any other
key is an error. Settings tables this module knows are checked value by value; the others are
checked to be tables and passed through to the module that owns them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from dialer.ivr.dialplan import AMD_ARGS, AMD_FLAGS
from dialer.domain import DialResult, Outcome
from dialer.ivr.flow import FlowError, builtin_names, load_file
from prompts.templates import builtin
from scheduler.policy import parse_schedule
from scheduler.windows import ScheduleError
from dialer.campaigns.toml_checks import Checker, toml_type
from dialer.campaigns.toml_lines import KeyPath
from dialer.campaigns.sms_checks import check_promise, check_sms
from dialer.campaigns.strategy_checks import check_strategy

LANGUAGES = ("es", "en", "pl")
TTS_BACKENDS = ("espeak-ng", "gtts")
COST_TYPES = ("mobile", "local", "long_distance")
RESULTS = {r.value for r in DialResult} | {o.value for o in Outcome}
# Settings read by other modules (IVR flows, scheduler): checked to be tables or arrays of tables.
PASS_THROUGH = ("schedule", "strategy")  # checked by the scheduler's own parsers (below)


class CampaignFileError(ValueError):
    """The file cannot become a campaign; `errors` holds one `FILE:LINE: KEY: reason` per problem."""

    def __init__(self, errors: list[str], by_field: list[tuple[str, str]] | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        self.by_field = by_field if by_field is not None else []  # (dotted key, reason) when known


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    flow: str
    language: str
    default_region: str
    trunk_template: str
    caller_id: str | None = None
    trunk: str | None = None  # a named trunk (dialer trunks add): its template and limits
    max_concurrent: int = 5
    calls_per_second: float = 1.0
    ring_timeout_s: int = 30
    settings: dict[str, Any] = field(default_factory=dict)


# -- settings tables this module checks -----------------------------------------------------
def _retries(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, ("max_attempts", "max_per_result", "delay_s"))
    if "max_attempts" in t:
        c.integer(path + ("max_attempts",), t["max_attempts"], 1, 100)
    for sub, low in (("max_per_result", 0), ("delay_s", 0)):
        if sub in t and c.table(path + (sub,), t[sub]):
            c.keys(path + (sub,), t[sub], RESULTS)
            for result, value in t[sub].items():
                if result in RESULTS:
                    c.integer(path + (sub, result), value, low)


def _costs(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, ("currency", "per_minute", "billing_increment_s"))
    if "currency" in t:
        c.text(path + ("currency",), t["currency"], 8)
    if "billing_increment_s" in t:
        c.integer(path + ("billing_increment_s",), t["billing_increment_s"], 1, 3600)
    if "per_minute" not in t:
        c.error(path, "missing key per_minute (rates per minute: mobile, local, long_distance)")
    elif c.table(path + ("per_minute",), t["per_minute"]):
        c.keys(path + ("per_minute",), t["per_minute"], COST_TYPES)
        for kind in COST_TYPES:
            if kind not in t["per_minute"]:
                c.error(path + ("per_minute",), f"missing rate {kind}")
            else:
                c.number(path + ("per_minute", kind), t["per_minute"][kind], 0)


def _prompts(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, LANGUAGES)
    for lang, overrides in t.items():
        if lang not in LANGUAGES or not c.table(path + (lang,), overrides):
            continue
        known = builtin(lang)
        for key, value in overrides.items():
            where = path + (lang, key)
            if key not in known:
                c.error(where, "no such prompt (see prompts/templates/" + lang + ".toml)")
                continue
            if isinstance(value, dict):
                c.keys(where, value, ("file",))
                if "file" not in value:
                    c.error(where, "a recorded prompt needs file = \"/absolute/path.wav\"")
                elif c.text(where + ("file",), value["file"], 500) and not value["file"].startswith("/"):
                    c.error(where + ("file",), "must be an absolute path")
            else:
                c.text(where, value, 2000)


def _amd(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, (*AMD_ARGS, *AMD_FLAGS))
    for key in AMD_ARGS:
        if key in t:
            c.integer(path + (key,), t[key], 0, 60000)
    for key in ("enabled", "sit"):
        if key in t and not isinstance(t[key], bool):
            c.error(path + (key,), f"expected true or false, got {toml_type(t[key])}")
    if "notsure" in t and t["notsure"] not in ("human", "machine"):
        c.error(path + ("notsure",), f"{t['notsure']!r}: expected human or machine")


def _transfer(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, ("queue", "timeout_s", "callback_delay_s", "pacing", "probability", "answer_to_transfer_s",
                     "abandon_target_pct", "whisper"))  # fmt: skip
    if "pacing" in t and c.text(path + ("pacing",), t["pacing"], 10) and t["pacing"] not in ("queue", "cap"):
        c.error(path + ("pacing",), f"{t['pacing']!r}: expected queue (pace on the agents) or cap (fixed cap)")
    if "probability" in t and c.number(path + ("probability",), t["probability"], 0.0) and t["probability"] > 1:
        c.error(path + ("probability",), f"{t['probability']}: a share of calls, 0..1")
    if "answer_to_transfer_s" in t:
        c.number(path + ("answer_to_transfer_s",), t["answer_to_transfer_s"], 0.0)
    if "abandon_target_pct" in t and c.number(path + ("abandon_target_pct",), t["abandon_target_pct"], 0.0, strict=True) \
            and t["abandon_target_pct"] > 100:
        c.error(path + ("abandon_target_pct",), f"{t['abandon_target_pct']}: a percentage, 0..100")
    if "whisper" in t:
        c.text(path + ("whisper",), t["whisper"], 300)
    if "queue" in t:
        c.text(path + ("queue",), t["queue"], 80, r"[A-Za-z0-9_.-]+")
    if "timeout_s" in t:
        c.integer(path + ("timeout_s",), t["timeout_s"], 1, 3600)
    if "callback_delay_s" in t:
        c.integer(path + ("callback_delay_s",), t["callback_delay_s"], 0)


def _tts(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, ("backend", "voice", "fallback"))
    for key in ("backend", "fallback"):
        if key in t and c.text(path + (key,), t[key], 20) and t[key] not in TTS_BACKENDS:
            c.error(path + (key,), f"{t[key]!r}: expected one of {', '.join(TTS_BACKENDS)}")
    if "voice" in t:
        c.text(path + ("voice",), t["voice"], 64)


CHECKED: dict[str, Callable[[Checker, KeyPath, dict[str, Any]], None]] = {
    "retries": _retries,
    "costs": _costs,
    "prompts": _prompts,
    "amd": _amd,
    "transfer": _transfer,
    "tts": _tts,
    "sms": check_sms,  # dialer.campaigns.sms_checks
    "promise": check_promise,
    "return_calls": lambda c, p, t: (c.keys(p, t, ("reason",)),
                                     "reason" not in t or c.text(p + ("reason",), t["reason"], 120)) and None,
}


def _flow_file(c: Checker, path: KeyPath, value: Any) -> bool:
    if not c.text(path, value, 500):
        return False
    try:
        load_file(Path(value))
    except FlowError as exc:
        c.error(path, str(exc).replace("\n", "; "))
        return False
    return True


# settings that are single values: key -> check
SCALARS: dict[str, Callable[[Checker, KeyPath, Any], bool]] = {
    "company": lambda c, p, v: c.text(p, v, 120),
    "currency": lambda c, p, v: c.text(p, v, 3, r"[A-Z]{3}"),
    "flow_file": _flow_file,
}
SETTINGS = (*CHECKED, *SCALARS, *PASS_THROUGH)
COLUMNS = ("name", "flow", "language", "default_region", "caller_id", "trunk", "trunk_template", "max_concurrent",
           "calls_per_second", "ring_timeout_s")  # fmt: skip
REQUIRED = ("name", "flow", "language", "default_region")  # and trunk or trunk_template


def _columns(c: Checker, doc: dict[str, Any]) -> None:
    for key in REQUIRED:
        if key not in doc:
            c.error((key,), "required key missing")
    if "trunk" not in doc and "trunk_template" not in doc:
        c.error(("trunk_template",), "required key missing (or name a trunk: trunk = \"carrier\", see dialer trunks add)")
    checks: dict[str, Callable[[KeyPath, Any], bool]] = {
        "name": lambda p, v: c.text(p, v, 120),
        "flow": lambda p, v: c.text(p, v, 64, r"[a-z][a-z0-9_-]*")
        and (v in builtin_names() or "flow_file" in doc
             or _bad(c, p, f"{v!r} is not a built-in flow ({', '.join(builtin_names())}); or give flow_file")),
        "language": lambda p, v: c.text(p, v, 2) and (v in LANGUAGES or _bad(c, p, f"{v!r} is not one of es, en, pl")),
        "default_region": lambda p, v: c.text(p, v, 2)
        and (v in phonenumbers.SUPPORTED_REGIONS or _bad(c, p, f"{v!r} is not an ISO region code like ES, PL, GB")),
        "caller_id": lambda p, v: c.text(p, v, 64),
        "trunk": lambda p, v: c.text(p, v, 64, r"[A-Za-z0-9][A-Za-z0-9_.-]*"),
        "trunk_template": lambda p, v: c.text(p, v, 200)
        and ("{number}" in v or _bad(c, p, "must contain {number}, e.g. PJSIP/{number}@trunk")),
        "max_concurrent": lambda p, v: c.integer(p, v, 1, 10000),
        "calls_per_second": lambda p, v: c.number(p, v, 0, strict=True),
        "ring_timeout_s": lambda p, v: c.integer(p, v, 1, 600),
    }
    for key, check in checks.items():
        if key in doc:
            check((key,), doc[key])


def _bad(c: Checker, path: KeyPath, reason: str) -> bool:
    c.error(path, reason)
    return False


def parse_campaign(text: str, filename: str) -> CampaignSpec:
    """The campaign in `text`; raises CampaignFileError listing every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError([_syntax_error(filename, text, exc)]) from None
    return _checked(doc, Checker(filename, text))


def campaign_from_dict(doc: dict[str, Any], source: str) -> CampaignSpec:
    """The campaign in `doc` (a TOML file's keys, e.g. a JSON body), with the checks of a campaign
    file; raises CampaignFileError (its by_field lists each problem's key and reason)."""
    return _checked(doc, Checker(source, ""))


def _checked(doc: dict[str, Any], c: Checker) -> CampaignSpec:
    for key in doc:
        if key not in COLUMNS and key not in SETTINGS:
            c.error((key,), f"unknown key (campaign keys: {', '.join(COLUMNS)}; settings tables: {', '.join(SETTINGS)})")
    _columns(c, doc)
    settings = {k: v for k, v in doc.items() if k in SETTINGS}
    for key, value in settings.items():
        if key in CHECKED:
            if c.table((key,), value):
                CHECKED[key](c, (key,), value)
        elif key in SCALARS:
            SCALARS[key](c, (key,), value)
        elif key == "strategy":
            continue
        elif not (isinstance(value, dict) or isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            c.error((key,), f"expected a table or an array of tables, got {toml_type(value)} {value!r}")
    if "strategy" in settings:  # an array of tables: dialer.campaigns.strategy_checks
        check_strategy(c, ("strategy",), settings["strategy"], doc)
    if isinstance(settings.get("schedule"), dict) and isinstance(doc.get("default_region"), str):
        try:  # the scheduler's own checks, so a bad schedule is refused here, not at every claim
            parse_schedule(settings, doc["default_region"])
        except ScheduleError as exc:
            where, _, reason = str(exc).partition(": ")
            c.error(tuple(where.split(".")), reason or str(exc))
    if c.errors:
        raise CampaignFileError(c.errors, c.by_field)
    return CampaignSpec(
        name=doc["name"], flow=doc["flow"], language=doc["language"], default_region=doc["default_region"],
        trunk_template=doc.get("trunk_template", ""), caller_id=doc.get("caller_id"), trunk=doc.get("trunk"),
        max_concurrent=doc.get("max_concurrent", 5), calls_per_second=float(doc.get("calls_per_second", 1.0)),
        ring_timeout_s=doc.get("ring_timeout_s", 30), settings=settings,
    )  # fmt: skip


def load_campaign_file(path: Path) -> CampaignSpec:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CampaignFileError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CampaignFileError([f"{path}:{line}: syntax error: not UTF-8 (TOML files are UTF-8)"]) from None
    return parse_campaign(text, str(path))


_AT = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


def _syntax_error(filename: str, text: str, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    match = _AT.search(message)
    if match is None:
        return f"{filename}:1: syntax error: {message}"
    what = message[: match.start()]
    if match.group(1) is None:
        return f"{filename}:{max(1, len(text.splitlines()))}: syntax error: {what} (at the end of the file)"
    return f"{filename}:{match.group(1)}: syntax error: {what} (column {match.group(2)})"
