"""Who is asking: authenticators, the guard every request passes, and login/logout.

Every route needs a scope ("dashboard" unless it says otherwise with `@needs` or `@public`). The
guard asks each authenticator in turn (app[AUTHENTICATORS]: the session cookie, the /metrics
bearer token; the API's keys join the list later) for a Principal. Without one, a browser is sent
to /login and anything else gets 401. A request that changes something (POST and the like) made
with a session cookie must carry that session's CSRF token (form field `csrf` or header
X-CSRF-Token), or it is refused with 403; the login form has its own double-submit token.
Session cookies: HttpOnly, SameSite=Strict, Secure unless DIALER_WEB_SECURE_COOKIES=0 (loopback).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from dialer.storage import web_store
from dialer.web.context import DEPS, PRINCIPAL, SQL, Principal, audit, render
from dialer.web.passwords import verify_password

log = logging.getLogger(__name__)

SESSION_COOKIE = "dialer_session"
LOGIN_COOKIE = "dialer_login"
PUBLIC = "public"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_FAILURES, LOCK_S, MAX_KEYS = 5, 900.0, 10_000  # failed logins of one name (or from one address) before a 15-minute wait


class Authenticator(Protocol):
    async def identify(self, request: web.Request) -> Principal | None:
        """The principal this request proves to be, or None (let the next authenticator try)."""


AUTHENTICATORS = web.AppKey("authenticators", list)


def needs(scope: str) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        handler.scope = scope  # type: ignore[attr-defined]
        return handler

    return mark


public = needs(PUBLIC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SessionAuth:
    """The dashboard's session cookie (a random token; SQL keeps its hash)."""

    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"dashboard", "metrics"}))

    async def identify(self, request: web.Request) -> Principal | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 128:
            return None
        deps = request.app[DEPS]
        found = await request.app[SQL].run(_session_of, deps.sessions, token_hash(token), deps.clock())
        if found is None:
            return None
        return Principal("user", found.user, self.scopes, csrf=found.csrf, language=found.language)


def _session_of(sessions: Any, digest: str, now: Any) -> web_store.SessionInfo | None:
    with sessions() as s:
        return web_store.session_of(s, digest, now)


@dataclass
class BearerTokenAuth:
    """A fixed bearer token for one scope (Prometheus scraping /metrics: DIALER_WEB_METRICS_TOKEN)."""

    token: str
    name: str = "prometheus"
    scope: str = "metrics"

    async def identify(self, request: web.Request) -> Principal | None:
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer "):
            return None
        if not hmac.compare_digest(given[7:].strip().encode(), self.token.encode()):
            return None
        return Principal("token", self.name, frozenset({self.scope}))


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    scope = getattr(handler, "scope", "dashboard")
    if scope == PUBLIC or request.path.startswith("/static/"):
        return await handler(request)
    principal = None
    for authenticator in request.app[AUTHENTICATORS]:
        principal = await authenticator.identify(request)
        if principal is not None:
            break
    if principal is None:
        if _wants_page(request):
            raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
        raise web.HTTPUnauthorized(text="401: log in first (or send a token)\n",
                                   headers={"WWW-Authenticate": 'Bearer realm="dialer"'})  # fmt: skip
    if scope not in principal.scopes:
        raise web.HTTPForbidden(text=f"403: {principal.who} may not use this ({scope})\n")
    request[PRINCIPAL] = principal
    if request.method not in SAFE_METHODS and principal.csrf is not None:  # cookie sessions: CSRF token
        form = await request.post() if request.content_type in FORMS else {}
        sent = request.headers.get("X-CSRF-Token") or str(form.get("csrf") or "")
        if not hmac.compare_digest(sent.encode(), principal.csrf.encode()):
            await audit(request, "csrf", request.path, "refused", note="CSRF token missing or wrong")
            raise web.HTTPForbidden(text="403: the form's CSRF token is missing or wrong: reload the page\n")
    return await handler(request)


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class Failures:
    """Failed logins per user name and per address, in memory: MAX_FAILURES within LOCK_S lock it for LOCK_S."""

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = time.monotonic()
        recent = [t for t in self._times.get(key, []) if now - t < LOCK_S]
        if recent:
            self._times[key] = recent
        else:
            self._times.pop(key, None)
        return recent

    def locked(self, key: str) -> bool:
        return len(self._recent(key)) >= MAX_FAILURES

    def failed(self, key: str) -> None:
        if len(self._times) > MAX_KEYS:  # many names tried: keep only what still counts
            for old in list(self._times):
                self._recent(old)
        self._times.setdefault(key, []).append(time.monotonic())

    def forget(self, key: str) -> None:
        self._times.pop(key, None)


FAILURES = web.AppKey("login_failures", Failures)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(request.query.get("next", "/")),
                                              "error": None})  # fmt: skip
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("user") or "")[:64], str(form.get("password") or "")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    target = _safe_next(str(form.get("next") or "/"))
    if not cookie or not hmac.compare_digest(str(form.get("csrf") or "").encode(), cookie.encode()):
        raise web.HTTPForbidden(text="403: the login form's CSRF token is missing or wrong: reload the page\n")
    deps = request.app[DEPS]
    failures = request.app[FAILURES]
    keys = (f"user:{name}", f"from:{request.remote}")
    if any(failures.locked(k) for k in keys):
        request[PRINCIPAL] = Principal("user", name or "?", frozenset())
        await audit(request, "login", None, "refused", note=f"{MAX_FAILURES} failures: locked for a while")
        raise web.HTTPTooManyRequests(text=f"429: too many failed logins; try again in {LOCK_S / 60:g} minutes\n")
    user = await request.app[SQL].run(_user, deps.sessions, name)
    if not await request.app[SQL].run(verify_password, password, user.password_hash if user else None):
        for k in keys:
            failures.failed(k)
        request[PRINCIPAL] = Principal("user", name or "?", frozenset())
        await audit(request, "login", None, "refused", note="wrong user or password")
        response = render(request, "login.html", {"login_csrf": cookie, "next": target, "error": "bad_login"},
                          status=401)  # fmt: skip
        return response
    for k in keys:
        failures.forget(k)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = deps.clock()
    expires = now + timedelta(hours=deps.settings.session_hours)
    await request.app[SQL].run(_open, deps.sessions, name, token_hash(token), csrf, now, expires)
    request[PRINCIPAL] = Principal("user", name, frozenset(), language=user.language if user else None)
    await audit(request, "login", None, "ok")
    response = web.HTTPSeeOther(target)
    _set_cookie(request, response, SESSION_COOKIE, token, max_age=deps.settings.session_hours * 3600)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    await request.app[SQL].run(_close, request.app[DEPS].sessions, token_hash(token))
    await audit(request, "logout", None, "ok")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Strict",
                        secure=request.app[DEPS].settings.secure_cookies)  # fmt: skip


def _user(sessions: Any, name: str) -> Any:
    with sessions() as s:
        user = web_store.find_user(s, name)
        if user is not None:
            s.expunge(user)
        return user


def _open(sessions: Any, name: str, digest: str, csrf: str, now: Any, expires: Any) -> None:
    with sessions.begin() as s:
        user = web_store.find_user(s, name)
        assert user is not None
        web_store.open_session(s, user, digest, csrf, now, expires)


def _close(sessions: Any, digest: str) -> None:
    with sessions.begin() as s:
        web_store.close_session(s, digest)


def setup(app: web.Application, extra: list[Authenticator] | None = None) -> None:
    authenticators: list[Authenticator] = [SessionAuth()]
    token = app[DEPS].settings.metrics_token
    if token:
        authenticators.append(BearerTokenAuth(token))
    app[AUTHENTICATORS] = authenticators + list(extra or [])
    app[FAILURES] = Failures()
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
