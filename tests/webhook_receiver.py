"""A real HTTP receiver for the webhook tests: an aiohttp server on a free port that checks every
signature as the README tells receivers to, answers with a scripted status, and keeps what came."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dialer.events.webhooks import verify
from tests.campaigns import free_port


@dataclass
class Received:
    status: int
    event_id: str
    kind: str
    body: dict[str, Any]
    signed: bool


@dataclass
class Receiver:
    url: str
    secret: str
    statuses: list[int] = field(default_factory=list)  # answers to give first, then 200
    got: list[Received] = field(default_factory=list)

    def delivered(self) -> list[Received]:
        return [r for r in self.got if r.status == 200]


@asynccontextmanager
async def receiver(secret: str, statuses: list[int] | None = None) -> AsyncIterator[Receiver]:
    port = free_port()
    box = Receiver(f"http://127.0.0.1:{port}/hooks", secret, list(statuses or []))

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        signed = verify(secret, request.headers.get("X-Dialer-Signature", ""), raw)
        status = box.statuses.pop(0) if box.statuses else 200
        box.got.append(Received(status, request.headers.get("Idempotency-Key", ""),
                                request.headers.get("X-Dialer-Event", ""), json.loads(raw), signed))  # fmt: skip
        return web.Response(status=status if signed else 401)

    app = web.Application()
    app.router.add_post("/hooks", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield box
    finally:
        await runner.cleanup()
