"""The agent's screen-pop: when an agent answers a transferred caller (AgentConnect), what the
agent's desktop needs: the contact (id, external id, name, fields), the keys the caller pressed,
the promise to pay if one was taken, and which agent answered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dialer.engine.tracker import LiveCall

PROMISE_FACT = "promise_to_pay"


def screen_pop(call: LiveCall, event: Mapping[str, Any]) -> dict[str, Any]:
    ctx, report = call.ivr_context, call.ivr_report
    events = list(getattr(report, "events", ()) or ())
    keys = ">".join(f"{e.name}:{e.value}" for e in events if e.kind == "key")
    promise = None
    for e in events:
        if e.kind == "fact" and e.name == PROMISE_FACT and e.value:
            try:
                promise = json.loads(e.value)
            except ValueError:
                promise = None
    return {
        "contact_id": call.contact_id,
        "external_id": getattr(ctx, "external_id", None),
        "name": getattr(ctx, "name", None),
        "fields": dict(getattr(ctx, "fields", {}) or {}),
        "key_path": keys,
        "promise": promise,
        "queue": str(event.get("Queue") or ""),
        "agent_interface": str(event.get("Interface") or ""),
        "agent_name": str(event.get("MemberName") or ""),
        "queue_wait_s": _number(event.get("HoldTime")),
    }


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
