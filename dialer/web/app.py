"""The HTTP face as an aiohttp app factory, and the server the daemon runs it in.

make_app() puts the parts on one app in a fixed order: the guard (dialer.web.auth) in front of
everything, then the route groups: /healthz and /metrics, login, the pages and their live
events, the static files. More groups (the /api/v1 of a later issue) come in through `extra`, and
more authenticators (API keys) through `authenticators`; every route is behind the guard unless
it is marked public.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from types import TracebackType

from aiohttp import web

from dialer.runtime import metrics
from dialer.storage.worker import SqlWorker
from dialer.web import auth, pages, stream
from dialer.web.auth import Authenticator, needs, public
from dialer.web.context import DEPS, HERE, SQL, TEMPLATES, WebDeps, templates
from dialer.web.figures import FIGURES, Figures

log = logging.getLogger(__name__)

WEB_SQL_THREADS = 2
SHUTDOWN_S = 2.0


@public
async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n")


@needs("metrics")
async def metrics_page(request: web.Request) -> web.StreamResponse:
    return web.Response(body=metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})


@web.middleware
async def counted(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.WEB_REQUESTS.labels(route, str(exc.status)).inc()
        raise
    metrics.WEB_REQUESTS.labels(route, str(response.status)).inc()
    return response


def make_app(deps: WebDeps, extra: Iterable[Callable[[web.Application], None]] = (),
             authenticators: Iterable[Authenticator] = ()) -> web.Application:  # fmt: skip
    app = web.Application(middlewares=[counted, auth.guard])
    app[DEPS] = deps
    app[SQL] = SqlWorker("dialer-web", WEB_SQL_THREADS)
    app[TEMPLATES] = templates()
    app[FIGURES] = Figures(deps.settings.refresh_s)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    auth.setup(app, list(authenticators))
    pages.setup(app)
    stream.setup(app)
    for add_routes in extra:
        add_routes(app)
    app.router.add_static("/static/", HERE / "static", append_version=True)

    async def close_sql(app: web.Application) -> None:
        app[SQL].close()

    app.on_cleanup.append(close_sql)
    return app


class WebServer:
    """`async with WebServer(app, host, port):` serves until the block ends (live streams are cut)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)

    async def __aenter__(self) -> WebServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("dashboard on http://%s:%d/", self.host, self.port)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        await self._runner.cleanup()
