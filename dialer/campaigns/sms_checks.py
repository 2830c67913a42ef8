"""The [sms] table of a campaign file, checked value by value (FILE:LINE: KEY: reason each)."""

from __future__ import annotations

import re
from typing import Any

from dialer.campaigns.toml_checks import Checker
from dialer.campaigns.toml_lines import KeyPath
from dialer.sms.messages import PLACEHOLDERS, MessageError, builtin, placeholders
from dialer.sms.settings import env_var, gateway_names
from dialer.storage.sms_claim import gateway_name
from scheduler.windows import CallingWindows, ScheduleError

KEYS = ("sender", "gateway", "transliterate", "cost_per_segment", "currency", "payment_link", "opt_out_voice",
        "stop_words", "templates", "windows", "retries", "only", "text", "notice", "on_result")  # fmt: skip
LANGUAGES = ("es", "en", "pl")


def check_sms(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, KEYS)
    for key in ("sender", "gateway", "currency"):
        if key in t:
            c.text(path + (key,), t[key], 20 if key != "currency" else 3)
    if "gateway" in t and isinstance(t["gateway"], str) and t["gateway"].strip():
        _gateway(c, path + ("gateway",), gateway_name(t))
    _uses(c, path, t)
    for key in ("transliterate", "opt_out_voice", "only"):
        if key in t and not isinstance(t[key], bool):
            c.error(path + (key,), "expected true or false")
    if "cost_per_segment" in t:
        c.number(path + ("cost_per_segment",), t["cost_per_segment"], 0)
    if "payment_link" in t and c.text(path + ("payment_link",), t["payment_link"], 300):
        try:
            unknown = placeholders(t["payment_link"]) - {"external_id", "contact_id", "amount", "campaign"}
        except MessageError as exc:
            unknown, _ = set(), c.error(path + ("payment_link",), str(exc))
        if unknown:
            c.error(path + ("payment_link",), f"unknown placeholder {{{sorted(unknown)[0]}}}")
    if "stop_words" in t and (not isinstance(t["stop_words"], list) or not all(isinstance(w, str) and w.strip()
                                                                             for w in t["stop_words"])):  # fmt: skip
        c.error(path + ("stop_words",), "expected a list of words, e.g. [\"STOP\", \"BAJA\"]")
    if "retries" in t and c.table(path + ("retries",), t["retries"]):
        c.keys(path + ("retries",), t["retries"], ("max_tries", "delay_s", "failed_receipts"))
        if "max_tries" in t["retries"]:
            c.integer(path + ("retries", "max_tries"), t["retries"]["max_tries"], 1, 20)
        if "delay_s" in t["retries"]:
            c.number(path + ("retries", "delay_s"), t["retries"]["delay_s"], 0)
    if "windows" in t:
        try:
            CallingWindows.parse(t["windows"], [], "sms.windows")
        except ScheduleError as exc:
            where, _, reason = str(exc).partition(": ")
            c.error(tuple(where.split(".")), reason)
    if "templates" in t and c.table(path + ("templates",), t["templates"]):
        c.keys(path + ("templates",), t["templates"], LANGUAGES)
        for lang, texts in t["templates"].items():
            if lang in LANGUAGES and c.table(path + ("templates", lang), texts):
                for key, text in texts.items():
                    where = path + ("templates", lang, key)
                    if c.text(where, text, 1000):
                        try:
                            unknown = placeholders(text) - PLACEHOLDERS
                        except MessageError as exc:
                            c.error(where, str(exc))
                            continue
                        if unknown:
                            c.error(where, f"unknown placeholder {{{sorted(unknown)[0]}}}")


def _gateway(c: Checker, where: KeyPath, name: str) -> None:
    """The gateway a campaign picks must be configured, where that is known: in an environment
    that configures gateways (the daemon's). Elsewhere the daemon keeps its texts waiting."""
    if not re.fullmatch(r"[a-z0-9_]{1,20}", name):
        c.error(where, "a gateway name is letters, digits or _ (DIALER_SMS_GATEWAY_<NAME>)")
        return
    known = gateway_names()
    if known and name not in known:
        c.error(where, f"no SMS gateway {name!r} is configured (known: {', '.join(sorted(known))}; "
                       f"configure it as {env_var(name)})")  # fmt: skip


def _uses(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    """The texts the campaign sends on its own (dialer.sms.producers, dialer.sms.on_ending): an SMS-only
    campaign's `text`, the [sms.notice] and the [sms.on_result] templates, each a known template."""
    own = {k for texts in (t.get("templates") or {}).values() if isinstance(texts, dict) for k in texts}
    known = own | set(builtin("es"))

    def template(where: KeyPath, value: Any) -> None:
        if c.text(where, value, 64) and value not in known:
            c.error(where, f"no template {value!r} (built-in: {', '.join(sorted(builtin('es')))}; or [sms.templates.LANG])")

    if "text" in t:
        template(path + ("text",), t["text"])
    if "notice" in t and c.table(path + ("notice",), t["notice"]):
        notice = t["notice"]
        c.keys(path + ("notice",), notice, ("template", "before_call_s", "days_before_due"))
        if ("before_call_s" in notice) == ("days_before_due" in notice):
            c.error(path + ("notice",), "needs one of before_call_s (before the first call) or days_before_due")
        if "before_call_s" in notice:
            c.integer(path + ("notice", "before_call_s"), notice["before_call_s"], 0, 7 * 86400)
        if "days_before_due" in notice:
            c.integer(path + ("notice", "days_before_due"), notice["days_before_due"], 0, 60)
        if "template" in notice:
            template(path + ("notice", "template"), notice["template"])
    if "on_result" in t and c.table(path + ("on_result",), t["on_result"]):
        c.keys(path + ("on_result",), t["on_result"], ("machine", "no_contact"))
        for key, value in t["on_result"].items():
            template(path + ("on_result", key), value)


def check_promise(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    """[promise]: a promise to pay holds the contact until its date plus `grace_days` (storage.promises)."""
    c.keys(path, t, ("grace_days",))
    if "grace_days" in t:
        c.integer(path + ("grace_days",), t["grace_days"], 0, 60)
