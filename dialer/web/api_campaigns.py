"""/api/v1 campaigns: create (the checks of a campaign file, dialer.campaigns.files), list, get
one, start|pause|resume|stop (dialer.campaigns.states), each change audited with the key that asked."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from dialer.campaigns import states
from dialer.campaigns.files import CampaignFileError, campaign_from_dict
from dialer.campaigns.states import CampaignError
from dialer.web.api_common import ApiProblem, answer, api_errors, json_body, read, write
from dialer.web.auth import needs
from dialer.web.context import DEPS

log = logging.getLogger(__name__)

COMMANDS = ("start", "pause", "resume", "stop")


def _summary(s: Session, name: str | None) -> list[dict[str, Any]]:
    rows = [dataclasses.asdict(row) for row in states.summaries(s) if name is None or row.name == name]
    if name is not None and not rows:
        raise ApiProblem(404, f"unknown campaign {name!r}")
    return rows


@needs("api:read")
async def list_campaigns(request: web.Request) -> web.StreamResponse:
    return answer({"campaigns": await read(request, lambda s: _summary(s, None))})


@needs("api:read")
async def get_campaign(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    (found,) = await read(request, lambda s: _summary(s, name))
    return answer(found)


@needs("api:write")
@api_errors
async def create_campaign(request: web.Request) -> web.StreamResponse:
    """A campaign (state draft) from a JSON object with a campaign file's keys; 422 lists every
    problem as {field, reason}, 409 when the name is taken."""
    body = await json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    target = f"campaign:{name}" if isinstance(name, str) else "campaign:?"

    def apply(s: Session) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiProblem(422, "expected a JSON object", [{"field": "", "reason": "expected a JSON object"}])
        try:
            spec = campaign_from_dict(body, "api")
        except CampaignFileError as exc:
            errors = [{"field": f, "reason": r} for f, r in exc.by_field]
            raise ApiProblem(422, f"{len(errors)} error(s), no campaign created", errors) from None
        try:
            created = states.create(s, spec)
        except CampaignError as exc:
            if "already exists" in str(exc):
                raise ApiProblem(409, str(exc)) from None
            raise ApiProblem(422, str(exc), [{"field": "trunk", "reason": str(exc)}]) from None
        s.flush()
        return {"campaign": created.name, "id": created.id, "state": created.state.value}

    done = await write(request, "campaign.create", target, apply, details=lambda d: d)
    return answer(done, status=201)


@needs("api:write")
async def command(request: web.Request) -> web.StreamResponse:
    name, verb = request.match_info["name"], request.match_info["command"]
    if verb not in COMMANDS:
        raise web.HTTPNotFound(text=f'{{"error": "no such command {verb!r}"}}', content_type="application/json")

    def apply(s: Session) -> dict[str, str]:
        try:
            before, after = states.transition(s, name, verb)
        except CampaignError as exc:
            raise ApiProblem(404 if "unknown campaign" in str(exc) else 409, str(exc)) from None
        return {"campaign": name, "from": before.value, "to": after.value}

    done = await write(request, f"campaign.{verb}", f"campaign:{name}", apply, details=lambda d: d)
    deps = request.app[DEPS]
    if deps.live is not None:
        deps.live.changed()  # the engine reads the states now
    return answer(done)


def setup(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/campaigns", list_campaigns)
    app.router.add_post(f"{prefix}/campaigns", create_campaign)
    app.router.add_get(f"{prefix}/campaigns/{{name}}", get_campaign)
    app.router.add_post(f"{prefix}/campaigns/{{name}}/{{command:start|pause|resume|stop}}", command)
