"""What the /api/v1 routes share: JSON answers and errors, reading a JSON body, and running a
write in one SQL transaction together with its audit row (actor "key:NAME")."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from dialer.storage import web_store
from dialer.web.context import DEPS, SQL, audit, client, principal

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BODY = 16 << 20  # a batch of 10,000 contacts with a few fields is ~2 MB


class ApiProblem(Exception):
    """A request the API refuses: HTTP status, a message, and (422) every error by row and field."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def answer(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=lambda v: json.dumps(v, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)



async def json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiProblem(413, f"the body is over {MAX_BODY >> 20} MB")
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiProblem(400, f"the body is not JSON: {exc}") from None


async def read(request: web.Request, fn: Callable[[Session], T]) -> T:
    """fn(session) in the web's SQL threads; ApiProblem becomes its JSON error."""
    sessions = request.app[DEPS].sessions

    def run() -> T:
        with sessions() as s:
            return fn(s)

    try:
        return await request.app[SQL].run(run)
    except ApiProblem as problem:
        raise _http(problem) from None


async def write(request: web.Request, action: str, target: str, fn: Callable[[Session], T],
                details: Callable[[T], dict[str, Any]] | None = None) -> T:  # fmt: skip
    """fn(session) and its audit row in one transaction; a refusal is audited too (its own row)."""
    deps, who = request.app[DEPS], principal(request)
    assert who is not None  # the guard let it through

    def run() -> T:
        with deps.sessions.begin() as s:
            done = fn(s)
            web_store.audit(s, at=deps.clock(), actor=who.who, action=action, target=target, result="ok",
                            source=client(request), details=details(done) if details else None)  # fmt: skip
            return done

    try:
        return await request.app[SQL].run(run)
    except ApiProblem as problem:
        await audit(request, action, target, "refused", note=problem.message[:500])
        raise _http(problem) from None


class _TooLarge(web.HTTPClientError):
    status_code = 413


ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict,
    413: _TooLarge, 422: web.HTTPUnprocessableEntity,
}  # fmt: skip


def _http(problem: ApiProblem) -> web.HTTPException:
    body: dict[str, Any] = {"error": problem.message}
    if problem.errors is not None:
        body["errors"] = problem.errors
    return ERRORS.get(problem.status, web.HTTPBadRequest)(text=json.dumps(body), content_type="application/json")


def api_errors(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    """ApiProblem raised in a handler itself (outside read/write) as its JSON error."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except ApiProblem as problem:
            raise _http(problem) from None

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    if hasattr(handler, "scope"):
        wrapped.scope = handler.scope  # type: ignore[attr-defined]
    return wrapped
