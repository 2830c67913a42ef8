"""What the web tests share: a database with a user, a logged-in client, forms' CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dialer.storage import db, web_store
from dialer.web import WebDeps, WebSettings, make_app
from dialer.web.passwords import hash_password

PASSWORD = "correct horse battery"


def add_user(url: str, name: str = "ana", language: str | None = None) -> None:
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        web_store.add_user(s, name, hash_password(PASSWORD), datetime.now(UTC), language)
    engine.dispose()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


class Pokes:
    """A LiveState that counts the engine pokes (tests without a daemon)."""

    def __init__(self) -> None:
        self.pokes = 0

    def live_calls(self) -> dict[int, int]:
        return {}

    def changed(self) -> None:
        self.pokes += 1


@asynccontextmanager
async def client(url: str, settings: WebSettings | None = None, live: Pokes | None = None) -> AsyncIterator[TestClient]:
    engine = db.make_engine(url)
    app: web.Application = make_app(WebDeps(db.session_factory(engine), settings or WebSettings(secure_cookies=False),
                                            live=live))  # fmt: skip
    try:
        async with TestClient(TestServer(app)) as c:
            yield c
    finally:
        engine.dispose()


async def log_in(c: TestClient, user: str = "ana", password: str = PASSWORD) -> str:
    """Log in through the form; the session's CSRF token (from the next page)."""
    form = await (await c.get("/login")).text()
    r = await c.post("/login", data={"user": user, "password": password, "csrf": csrf_of(form), "next": "/campaigns"},
                     allow_redirects=False)  # fmt: skip
    assert r.status == 303, await r.text()
    return csrf_of(await (await c.get("/campaigns")).text())
