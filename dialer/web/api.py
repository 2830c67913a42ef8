"""/api/v1: the JSON API for CRMs and billing systems, as a route group for make_app(extra=...).
Keys and their scopes: dialer.web.api_keys; the resources: api_campaigns, api_contacts,
api_results; the OpenAPI document (public): api_openapi."""

from __future__ import annotations

import logging

from aiohttp import web

from dialer.web import api_campaigns, api_contacts, api_results
from dialer.web.api_openapi import document
from dialer.web.auth import public

log = logging.getLogger(__name__)

PREFIX = "/api/v1"


@public
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(document(PREFIX))


def setup(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
    api_campaigns.setup(app, PREFIX)
    api_contacts.setup(app, PREFIX)
    api_results.setup(app, PREFIX)
