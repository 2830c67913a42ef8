"""The dashboard's pages: the campaigns, one campaign live, and its pause/resume/stop buttons.

A button's POST changes the campaign through dialer.campaigns.states and writes its audit row in
the same transaction; in the daemon, the engine is told at once (LiveState.changed), so a pause
stops the originating within milliseconds rather than at the next poll of the states.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dialer.campaigns import states
from dialer.campaigns.states import CampaignError
from dialer.storage import web_store
from dialer.web.context import DEPS, SQL, audit, client, principal, render
from dialer.web.figures import FIGURES, with_live


COMMANDS = ("pause", "resume", "stop")
BUTTONS = {"active": ("pause", "stop"), "paused": ("resume", "stop"), "draft": ("stop",)}


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/campaigns")


async def campaigns_page(request: web.Request) -> web.StreamResponse:
    found = with_live(request.app, await request.app[FIGURES].get(request.app, None))
    return render(request, "campaigns.html", {"figures": found})


async def campaign_page(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    try:
        found = with_live(request.app, await request.app[FIGURES].get(request.app, name))
    except CampaignError as exc:
        raise web.HTTPNotFound(text=f"404: {exc}\n") from None
    trail = await request.app[SQL].run(_trail, request.app[DEPS].sessions, f"campaign:{name}")
    return render(request, "campaign.html", {"figures": found, "trail": trail,
                                             "buttons": BUTTONS.get(found["state"], ())})  # fmt: skip


def _trail(sessions: Any, target: str) -> list[dict[str, Any]]:
    with sessions() as s:
        return [{"at": f"{a.at:%Y-%m-%d %H:%M:%S}Z", "actor": a.actor, "action": a.action, "result": a.result}
                for a in web_store.audit_rows(s, target, limit=10)]  # fmt: skip


async def campaign_command(request: web.Request) -> web.StreamResponse:
    name, command = request.match_info["name"], request.match_info["command"]
    if command not in COMMANDS:
        raise web.HTTPNotFound(text=f"404: no such command {command!r}\n")
    deps, who = request.app[DEPS], principal(request)
    assert who is not None  # the guard let it through

    def apply() -> tuple[str, str]:
        with deps.sessions.begin() as s:
            before, after = states.transition(s, name, command)
            web_store.audit(s, at=deps.clock(), actor=who.who, action=f"campaign.{command}", target=f"campaign:{name}",
                            result="ok", source=client(request),
                            details={"from": before.value, "to": after.value})  # fmt: skip
            return before.value, after.value

    try:
        await request.app[SQL].run(apply)
    except CampaignError as exc:
        await audit(request, f"campaign.{command}", f"campaign:{name}", "refused", note=str(exc))
        raise web.HTTPConflict(text=f"409: {exc}\n") from None
    if deps.live is not None:
        deps.live.changed()  # the engine reads the states now
    request.app[FIGURES].forget(name)
    raise web.HTTPSeeOther(f"/campaigns/{name}")


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/campaigns", campaigns_page)
    app.router.add_get("/campaigns/{name}", campaign_page)
    app.router.add_post("/campaigns/{name}/{command}", campaign_command)
