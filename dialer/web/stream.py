"""Server-sent events: the live pages' figures pushed when they change (checked every refresh).

GET /events (the campaigns) and GET /campaigns/{name}/events (one campaign) send `snapshot`
events with the JSON the page renders, a comment every 15 s to keep proxies from closing the
stream, and end when the browser goes or the server stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from dialer.campaigns.states import CampaignError
from dialer.web.context import DEPS
from dialer.web.figures import FIGURES, with_live

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
STREAMS = web.AppKey("streams", set)


async def campaigns_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, None)


async def campaign_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, request.match_info["name"])


async def _stream(request: web.Request, name: str | None) -> web.StreamResponse:
    app = request.app
    try:
        first = await app[FIGURES].get(app, name)
    except CampaignError as exc:
        raise web.HTTPNotFound(text=f"404: {exc}\n") from None
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})  # fmt: skip
    await response.prepare(request)
    task = asyncio.current_task()
    app[STREAMS].add(task)
    last, quiet_since = "", time.monotonic()
    try:
        found: dict[str, Any] | None = first
        while True:
            if found is not None:
                snapshot = with_live(app, found)
                body = json.dumps({k: v for k, v in snapshot.items() if k != "sent_at_ms"}, sort_keys=True)
                if body != last:
                    await response.write(f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n".encode())
                    last, quiet_since = body, time.monotonic()
            if time.monotonic() - quiet_since > KEEPALIVE_S:
                await response.write(b": still here\n\n")
                quiet_since = time.monotonic()
            await asyncio.sleep(app[DEPS].settings.refresh_s / 2)
            try:
                found = await app[FIGURES].get(app, name)
            except CampaignError:
                break
            except Exception as exc:  # noqa: BLE001 - SQL slow or away: keep the stream, try again
                log.warning("live figures of %s: %s", name or "the campaigns", exc)
                found = None
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        app[STREAMS].discard(task)
    return response


async def _close_streams(app: web.Application) -> None:
    for task in list(app[STREAMS]):
        task.cancel()


def setup(app: web.Application) -> None:
    app[STREAMS] = set()
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/events", campaigns_events)
    app.router.add_get("/campaigns/{name}/events", campaign_events)
