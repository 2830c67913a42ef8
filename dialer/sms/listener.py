"""The daemon's HTTP listener (aiohttp) for what Kannel sends back: delivery reports at /dlr (the
dlr-url dialer.sms.kannel gives each text) and replies at /mo (the smsbox's get-url; with several
Kannel gateways, each box's get-url may add gateway=NAME, else replies are told as the first's). Only
allowed peer addresses are believed; anything else gets 403 and changes nothing.

Kannel's report codes: 1 delivered, 2 failed, 4 buffered, 8 accepted by the SMSC, 16 rejected
by the SMSC. `answer` (%A) carries the SMSC's receipt text, where `err:NNN` is the error code.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from aiohttp import web

from dialer.sms.gateway import DELIVERED, FAILED, SENT, Inbound, Receipt, Reply
from dialer.sms.settings import ListenSettings

log = logging.getLogger(__name__)

KANNEL_STATES = {1: DELIVERED, 2: FAILED, 4: SENT, 8: SENT, 16: FAILED}
_ERR = re.compile(r"\berr:(\w+)", re.I)


class Listener:
    def __init__(self, settings: ListenSettings, inbound: Inbound, gateway: str = "kannel") -> None:
        self.settings = settings
        self.inbound = inbound
        self.gateway = gateway
        self.port = settings.port  # the bound port (settings.port 0: any free port)
        self._runner: web.AppRunner | None = None
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/dlr", self._dlr)
        app.router.add_route("*", "/mo", self._mo)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked for port 0
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("SMS listener on %s (delivery reports at /dlr, replies at /mo)", self.url)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _believed(self, request: web.Request) -> bool:
        if request.remote in self.settings.allow:
            return True
        self.refused += 1
        log.warning("SMS listener: request from %s refused (not in DIALER_SMS_ALLOW)", request.remote)
        return False

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    async def _dlr(self, request: web.Request) -> web.Response:
        if not self._believed(request):
            return web.Response(status=403, text="forbidden")
        p = await self._params(request)
        try:
            sms_id, status = int(p.get("id", "")), int(p.get("status", ""))
        except ValueError:
            return web.Response(status=400, text="id and status must be numbers")
        state = KANNEL_STATES.get(status)
        if state is None:
            return web.Response(text="ignored")
        found = _ERR.search(p.get("answer", ""))
        error = found.group(1) if found and state == FAILED else (f"kannel-{status}" if state == FAILED else None)
        self.inbound.receipt(Receipt(state, sms_id=sms_id, smsc_id=p.get("smsc") or None, error=error))
        return web.Response(text="ok")

    async def _mo(self, request: web.Request) -> web.Response:
        if not self._believed(request):
            return web.Response(status=403, text="forbidden")
        p = await self._params(request)
        number, text = p.get("from", "").strip(), p.get("text", "")
        if not number:
            return web.Response(status=400, text="from is required")
        gateway = (p.get("gateway") or self.gateway)[:32]  # a get-url may name its gateway (README, "SMS")
        self.inbound.reply(Reply(number, p.get("to", ""), text, gateway, datetime.now(UTC)))
        return web.Response(text="")  # an empty answer: Kannel sends nothing back to the person
