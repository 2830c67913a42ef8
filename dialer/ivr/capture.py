"""Capture steps: digits or a date typed by the caller, checked, read back and confirmed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta

from dialer.ivr.call import CallBase
from dialer.ivr.flow import END, Step, branch_range


def resolve_ddmm(digits: str, today: date, max_days: int) -> date | None:
    """DDMM typed by a caller -> the next such date from today on, if within max_days."""
    if len(digits) != 4 or not digits.isdigit():
        return None
    day, month = int(digits[:2]), int(digits[2:])
    for year in (today.year, today.year + 1):
        try:
            found = date(year, month, day)
        except ValueError:
            return None
        if found >= today:
            return found if found <= today + timedelta(days=max_days) else None
    return None


class CaptureSteps(CallBase):
    async def _capture(self, step: Step) -> str:
        kind = step.get("kind")
        timeout_ms = int(float(step.get("timeout_s", 6)) * 1000)
        max_digits = int(step.get("max_digits", 4 if kind == "date" else 9))
        for _ in range(int(step.get("tries", 3))):
            digits, _ = await self.ch.get_data(self.path(step.get("prompt")), timeout_ms, max_digits)
            self.event("key", step.name, digits)
            value, extra, target = self._parse_capture(step, digits)
            if value is None:
                await self.play(step.get("invalid", "invalid_key"))
                continue
            if step.get("readback"):
                confirm = await self._readback(step, kind, digits, extra)
                self.event("key", f"{step.name}_confirm", confirm or "")
                if confirm != "1":
                    continue
            self.event("fact", step.get("fact"), value)
            return target
        return str(step.get("failed", END))

    def _parse_capture(self, step: Step, digits: str) -> tuple[str | None, dict[str, str], str]:
        kind = step.get("kind")
        if kind == "date":
            day = resolve_ddmm(digits, self.today, int(step.get("max_days", 30)))
            if day is None:
                return None, {}, step.next
            fact: dict[str, str] = {"date": day.isoformat()}
            if self.ctx.fields.get("amount") not in (None, ""):
                fact["amount"] = str(self.ctx.fields["amount"])
            return json.dumps(fact), self.book.date_values(day), step.next
        if not digits.isdigit():
            return None, {}, step.next
        branches: Mapping[str, str] = step.get("branches") or {}
        if not branches:
            return digits, {}, step.next
        for spec, target in branches.items():
            low, high = branch_range(spec) or (0, -1)
            if low <= int(digits) <= high:
                return digits, {}, target
        return None, {}, step.next

    async def _readback(self, step: Step, kind: str, digits: str, extra: Mapping[str, str]) -> str | None:
        timeout_s = float(step.get("timeout_s", 6))
        if kind == "date":
            return await self.ask(step.get("readback"), "12", timeout_s, extra)
        pressed = await self.play("amount_readback", "12")
        for digit in digits:
            pressed = pressed or await self.play(f"digit_{digit}", "12")
        return pressed or await self.ask(step.get("readback"), "12", timeout_s)
