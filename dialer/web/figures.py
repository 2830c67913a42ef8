"""The figures the live pages show, read from SQL at most once per refresh for every viewer together,
with this daemon's own live calls added from memory."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from dialer.campaigns import states
from dialer.reports import campaign_report, dashboard
from dialer.web.context import DEPS, SQL


def campaigns_figures(sessions: Any) -> dict[str, Any]:
    with sessions() as s:
        return {"campaigns": [line.as_dict() for line in dashboard.campaign_lines(s)]}


def campaign_figures(sessions: Any, name: str, now: Any) -> dict[str, Any]:
    """Everything the campaign page shows; CampaignError for an unknown name."""
    with sessions() as s:
        campaign = states.find(s, name)
        report = campaign_report.build_report(s, campaign)
        return {"id": campaign.id, "name": campaign.name, "state": campaign.state.value, "report": report.as_dict(),
                "calls_per_s": dashboard.calls_per_s(s, campaign.id, now),
                "hourly": [asdict(h) for h in dashboard.hourly(s, campaign.id)]}  # fmt: skip


class Figures:
    """Snapshots cached for `refresh_s`; viewers asking at once share one query."""

    def __init__(self, refresh_s: float) -> None:
        self.refresh_s = refresh_s
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, app: web.Application, name: str | None) -> dict[str, Any]:
        key = name or ""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached is not None and time.monotonic() - cached[0] < self.refresh_s:
                return cached[1]
            deps = app[DEPS]
            if name is None:
                found = await app[SQL].run(campaigns_figures, deps.sessions)
            else:
                found = await app[SQL].run(campaign_figures, deps.sessions, name, deps.clock())
            self._cache[key] = (time.monotonic(), found)
            return found

    def forget(self, name: str) -> None:
        """A change made here: the next viewer reads SQL again."""
        self._cache.pop(name, None)
        self._cache.pop("", None)


FIGURES = web.AppKey("figures", Figures)


def with_live(app: web.Application, found: dict[str, Any]) -> dict[str, Any]:
    """Add this daemon's live calls of the campaign (from memory) to its snapshot, and the time it is sent."""
    live = app[DEPS].live
    here = live.live_calls() if live is not None else {}
    out = dict(found)
    if "id" in out:  # one campaign's page
        out["live_here"] = here.get(out["id"], 0)
    out["sent_at_ms"] = int(time.time() * 1000)
    return out
