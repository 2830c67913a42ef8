"""The Kannel backend: HTTP sendsms to smsbox, one request per text (Kannel concatenates parts).

Each text asks for every delivery report (dlr-mask 31) at our listener's /dlr with the sms id in
the URL; replies reach /mo through the smsbox's get-url (dialer.sms.listener). The password goes
only into the request, never into a log line or an error.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from dialer.sms.gateway import Inbound, Outgoing, SendError, Submitted
from dialer.sms.settings import GatewaySettings
from dialer.sms.text import UCS2

log = logging.getLogger(__name__)

DLR_MASK = 31  # delivered, failed, buffered, accepted by the SMSC, rejected by the SMSC
DLR_QUERY = "status=%d&smsc=%F&answer=%A"


class KannelGateway:
    def __init__(self, settings: GatewaySettings, callback_url: str, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.name = settings.name
        self.callback = str(settings.options.get("callback") or callback_url).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @property
    def ready(self) -> bool:
        """Kannel queues what it cannot send yet itself: always ready once started."""
        return self._session is not None

    async def start(self, inbound: Inbound) -> None:  # receipts and replies arrive at the listener
        self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, message: Outgoing) -> Submitted:
        assert self._session is not None, "start() first"
        params = {
            "username": self.settings.username, "password": self.settings.password, "to": message.to,
            "text": message.text, "charset": "UTF-8", "coding": "2" if message.split.encoding == UCS2 else "0",
            "dlr-mask": str(DLR_MASK), "dlr-url": f"{self.callback}/dlr?id={message.sms_id}&{DLR_QUERY}",
        }  # fmt: skip
        if message.sender:
            params["from"] = message.sender
        url = f"http://{self.settings.host}:{self.settings.port}/cgi-bin/sendsms"
        try:
            async with self._session.get(url, params=params) as resp:
                body = (await resp.text()).strip()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise SendError(f"Kannel at {self.settings.where} unreachable: {type(exc).__name__}", "unreachable",
                            temporary=True) from None  # fmt: skip
        if resp.status in (200, 202) and body[:2] in ("0:", "3:"):  # accepted, or queued for later
            return Submitted((), message.split)
        temporary = resp.status >= 500 or resp.status == 429
        raise SendError(f"Kannel refused sms {message.sms_id}: HTTP {resp.status} {body[:120]}", f"http-{resp.status}",
                        temporary=temporary)  # fmt: skip
