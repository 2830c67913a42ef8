"""The [sms] table of a campaign file, checked value by value (FILE:LINE: KEY: reason each)."""

from __future__ import annotations

from typing import Any

from dialer.campaigns.toml_checks import Checker
from dialer.campaigns.toml_lines import KeyPath
from dialer.sms.messages import PLACEHOLDERS, MessageError, placeholders
from scheduler.windows import CallingWindows, ScheduleError

KEYS = ("sender", "gateway", "transliterate", "cost_per_segment", "currency", "payment_link", "opt_out_voice",
        "stop_words", "templates", "windows", "retries")  # fmt: skip
LANGUAGES = ("es", "en", "pl")


def check_sms(c: Checker, path: KeyPath, t: dict[str, Any]) -> None:
    c.keys(path, t, KEYS)
    for key in ("sender", "gateway", "currency"):
        if key in t:
            c.text(path + (key,), t[key], 20 if key != "currency" else 3)
    for key in ("transliterate", "opt_out_voice"):
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
