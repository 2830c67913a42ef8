"""Frequency caps on one contact's attempts: per local day, per rolling 7 days, in total, and a
quiet period after a conversation. Pure: the caller passes the attempts' times."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Past:
    """One earlier attempt of the contact: when it started and whether it was a conversation."""

    at: datetime
    conversation: bool = False
    placed: bool = True  # False: the person called us (a return call): not a call placed, for the counts


@dataclass(frozen=True)
class Block:
    code: str  # per_day, per_7_days, total, quiet
    text: str
    until: datetime | None  # None: never again


@dataclass(frozen=True)
class Caps:
    per_day: int | None = None
    per_7_days: int | None = None
    total: int | None = None
    quiet_days_after_conversation: int | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (self.per_day, self.per_7_days, self.total, self.quiet_days_after_conversation)
        )

    def blocks(self, now: datetime, history: Sequence[Past], day_zone: ZoneInfo) -> list[Block]:
        """Every cap that forbids an attempt at `now`, each with when it lifts. An attempt stamped
        after `now` counts as made (another host's clock runs ahead, or it was claimed while this
        claim was being decided): a call is a call, whatever its stamp says."""
        talked = [p for p in history if p.conversation]  # return calls count here (the quiet period)
        history = [p for p in history if p.placed]  # and not in the counts of calls placed
        out: list[Block] = []
        if self.total is not None and len(history) >= self.total:
            out.append(Block("total", f"{len(history)} attempts made, the total cap is {self.total}", None))
        if self.per_day is not None:
            local = now.astimezone(day_zone)
            start = datetime.combine(local.date(), time(0), tzinfo=day_zone)
            tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=day_zone)
            today = [p for p in history if start <= p.at.astimezone(day_zone) < tomorrow]
            if len(today) >= self.per_day:
                out.append(
                    Block(
                        "per_day",
                        f"{len(today)} attempts today ({day_zone.key}), the cap is {self.per_day} a day",
                        tomorrow,
                    )
                )
        if self.per_7_days is not None:
            recent = sorted(p.at for p in history if now - WEEK < p.at)
            if len(recent) >= self.per_7_days:
                lifts = recent[len(recent) - self.per_7_days] + WEEK
                out.append(
                    Block(
                        "per_7_days",
                        f"{len(recent)} attempts in the last 7 days, the cap is {self.per_7_days}",
                        lifts,
                    )
                )
        if self.quiet_days_after_conversation:
            quiet = timedelta(days=self.quiet_days_after_conversation)
            talks = [p.at for p in talked if now < p.at + quiet]
            if talks:
                last = max(talks)
                out.append(
                    Block(
                        "quiet",
                        f"a conversation on {last:%Y-%m-%d %H:%M} UTC: no calls for "
                        f"{self.quiet_days_after_conversation} days after it",
                        last + quiet,
                    )
                )
        return out
