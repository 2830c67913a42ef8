"""What every part of the HTTP face shares: the app's dependencies, who is asking, page rendering
(Jinja2, autoescaped, labels in the reader's language) and the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jinja2
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from dialer.storage import web_store
from dialer.storage.worker import SqlWorker
from dialer.web.i18n import labels_for, pick_language
from dialer.web.settings import WebSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


class LiveState(Protocol):
    """The daemon's own live state, when the server runs inside `dialer run` (cli.py wires it)."""

    def live_calls(self) -> dict[int, int]:
        """Campaign id -> calls this daemon has live now."""

    def changed(self) -> None:
        """A campaign's state was changed here: the engine reads the states now, not at its next poll."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebDeps:
    sessions: sessionmaker[Session]
    settings: WebSettings
    live: LiveState | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: kind (user, token; later key), name, what it may do (scopes), the
    CSRF token its changes must carry (cookie sessions only), its language."""

    kind: str
    name: str
    scopes: frozenset[str]
    csrf: str | None = None
    language: str | None = None

    @property
    def who(self) -> str:
        return f"{self.kind}:{self.name}"


DEPS = web.AppKey("deps", WebDeps)
SQL = web.AppKey("sql", SqlWorker)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
PRINCIPAL: Any = getattr(web, "RequestKey", lambda name, _t: name)("principal", Principal)  # aiohttp >= 3.12


def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                              autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined)  # fmt: skip


def principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def language(request: web.Request) -> str:
    who = principal(request)
    return pick_language(request.query.get("lang") or request.cookies.get("dialer_lang"),
                         who.language if who else None, request.headers.get("Accept-Language", ""),
                         request.app[DEPS].settings.language)  # fmt: skip


def render(request: web.Request, name: str, values: dict[str, Any], status: int = 200) -> web.Response:
    lang = language(request)
    who = principal(request)
    page = request.app[TEMPLATES].get_template(name).render(
        t=labels_for(lang), lang=lang, user=who.name if who and who.kind == "user" else None,
        csrf=who.csrf if who else "", **values)  # fmt: skip
    response = web.Response(text=page, content_type="text/html", status=status)
    response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.query.get("lang") == lang:  # remembered for the next pages
        response.set_cookie("dialer_lang", lang, max_age=365 * 86400, path="/", samesite="Strict", httponly=True)
    return response


def client(request: web.Request) -> str | None:
    return request.remote


async def audit(request: web.Request, action: str, target: str | None, result: str, *,
                details: dict[str, Any] | None = None, note: str | None = None) -> None:  # fmt: skip
    """One audit row (who, when, what, from where, how it went); a failure to write it is logged."""
    who = principal(request)
    deps = request.app[DEPS]

    def write() -> None:
        with deps.sessions.begin() as s:
            web_store.audit(s, at=deps.clock(), actor=who.who if who else "anonymous", action=action, target=target,
                            result=result, source=client(request), details=details, note=note)  # fmt: skip

    try:
        await request.app[SQL].run(write)
    except Exception as exc:  # noqa: BLE001 - the action itself went through or was refused already
        log.error("audit %s %s by %s: not written: %s", action, target, who.who if who else "anonymous", exc)
