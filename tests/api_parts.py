"""What the API tests share: keys made through the CLI, and the real web server with /api/v1 on a
free port (aiohttp.ClientSession against it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from typer.testing import CliRunner

from cli import app as cli_app
from dialer.storage import db
from dialer.web import WebDeps, WebServer, WebSettings, api, make_app
from dialer.web.api_keys import ApiKeyAuth
from tests.campaigns import free_port


def add_key(url: str, name: str, scope: str) -> str:
    """`dialer api-keys add NAME --scope SCOPE`: the key it prints once."""
    result = CliRunner().invoke(cli_app, ["api-keys", "add", name, "--scope", scope, "--url", url])
    assert result.exit_code == 0, result.output
    (key,) = [line for line in result.stdout.splitlines() if line.startswith("dk_")]
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def api_server(url: str, rate: float = 100.0, burst: int = 100) -> AsyncIterator[tuple[str, Any]]:
    """(base URL of /api/v1, the app) of a real server on a free port."""
    engine = db.make_engine(url)
    app = make_app(WebDeps(db.session_factory(engine), WebSettings(secure_cookies=False)), extra=[api.setup],
                   authenticators=[ApiKeyAuth(rate, burst)])  # fmt: skip
    port = free_port()
    try:
        async with WebServer(app, "127.0.0.1", port):
            yield f"http://127.0.0.1:{port}{api.PREFIX}", app
    finally:
        engine.dispose()


async def call(http: aiohttp.ClientSession, method: str, url: str, key: str | None = None,
               **kw: Any) -> tuple[int, Any, aiohttp.ClientResponse]:  # fmt: skip
    async with http.request(method, url, headers=bearer(key) if key else {}, timeout=aiohttp.ClientTimeout(total=30),
                            **kw) as r:  # fmt: skip
        text = await r.text()
        try:
            body = await r.json(content_type=None) if text else None
        except ValueError:
            body = text
        return r.status, body, r
