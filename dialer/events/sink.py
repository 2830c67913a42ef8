"""The events' contract: the sink the engine publishes to, topic names, and what a payload may show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

ATTEMPT_EVENTS = frozenset({"started", "answered", "amd", "ivr_step", "transferred", "screen_pop", "ended"})
PROGRESS = "progress"
SMS_EVENTS = frozenset({"sms_queued", "sms_sent", "sms_delivered", "sms_failed", "sms_expired", "sms_cancelled"})
SMS_REPLY = "sms_reply"
DTMF_KEYS = set("0123456789*#ABCD")


class EventSink(Protocol):
    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue one event; never awaits, never raises (call it from the event loop's thread)."""


class NullSink:
    """Events off (DIALER_MQTT_URL unset)."""

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        pass


def topic_for(prefix: str, node: str, kind: str, payload: dict[str, Any]) -> str:
    """The topic of one event; ValueError for an unknown kind or a payload without its ids."""
    base = f"{prefix}/{_level(node)}/campaign/{int(payload['campaign_id'])}"
    if kind == PROGRESS:
        return f"{base}/progress"
    if kind in SMS_EVENTS:  # <base>/sms/<sms_id>/<state>
        return f"{base}/sms/{int(payload['sms_id'])}/{kind[4:]}"
    if kind == SMS_REPLY:
        return f"{base}/sms_reply"
    if kind not in ATTEMPT_EVENTS:
        raise ValueError(f"unknown event kind {kind!r}")
    return f"{base}/attempt/{_level(str(payload['attempt_id']))}/{kind}"


def _level(text: str) -> str:
    """One topic level: no separator or wildcard inside it."""
    return "".join("_" if c in "/+#" else c for c in text) or "_"


def mask_number(number: str) -> str:
    """All digits but the last 4 hidden: '+34611141234' -> '+*******1234'."""
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    return plus + "*" * max(len(digits) - 4, 0) + digits[-4:]


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
