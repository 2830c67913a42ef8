"""A verdict in words: why a contact is or is not due now, and when it next will be."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from scheduler.due import Reason, Verdict


def when(at: datetime, verdict: Verdict | None = None) -> str:
    """'2026-11-24 13:00 UTC (08:00 Mon America/New_York)'."""
    text = f"{at:%Y-%m-%d %H:%M} UTC"
    if verdict is not None and verdict.zones is not None:
        local = ", ".join(f"{at.astimezone(z):%H:%M %a} {z.key}" for z in verdict.zones.zones[:3])
        text += f" ({local}{', ...' if len(verdict.zones.zones) > 3 else ''})"
    return text


def explain(verdict: Verdict, now: datetime, blocks: Sequence[Reason] = ()) -> list[str]:
    """Lines of text; `blocks` are reasons found outside the schedule (DNC, disposition, ...)."""
    lines = [f"now: {when(now, verdict)}"]
    if verdict.zones is not None:
        lines.append(f"time zones: {verdict.zones.describe()}")
    if blocks:
        lines.append("not due: " + "; ".join(b.text for b in blocks))
        final = [b for b in blocks if b.until is None]
        if final:
            lines.append("next due: never (" + final[0].text + ")")
            return lines
    if verdict.due and not blocks:
        lines.append("due now")
        return lines
    if verdict.reasons:
        lines.append("blocked by, in order:")
        lines.extend(
            f"  - {r.code}: {r.text}" + (f" (until {when(r.until, verdict)})" if r.until else "")
            for r in verdict.reasons
        )
    if verdict.next_at is None:
        lines.append("next due: never")
    else:
        lines.append(f"next due: {'now' if verdict.due else when(verdict.next_at, verdict)}")
    return lines
