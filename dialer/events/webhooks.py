"""Webhooks out of the daemon: the outbox's deliveries POSTed to their receivers, signed.

Every body is JSON, sent byte for byte as stored, with these headers:

    Content-Type: application/json
    X-Dialer-Event: attempt.ended                  (the kind)
    X-Dialer-Event-Id: <uuid>                      (also Idempotency-Key: the same on every try)
    X-Dialer-Signature: t=<unix seconds>,v1=<hex>  (HMAC-SHA256 of "<t>.<body>" with the secret)

A 2xx answer delivers it; anything else (or no answer in TIMEOUT_S) tries again after the backoff
(10 s, doubling, at most an hour apart), for 24 hours; then it is dead (`dialer webhooks retry`).
The sender is a task of its own that reads the outbox in SQL: the calls never wait for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy.orm import Session, sessionmaker

from dialer.runtime.tasks import stop_tasks
from dialer.storage.webhook_store import DEAD, Backoff, Outgoing, WebhookStore

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
SQL_TIMEOUT_S = 10.0
TOLERANCE_S = 300  # a receiver refuses signatures older than this (replays)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None, tolerance_s: int = TOLERANCE_S) -> bool:
    """What a receiver does (README, "Webhooks"): the signature is the secret's, and recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookSender:
    """Sends due deliveries, a few at a time; one attempt's events strictly in order."""

    def __init__(self, sessions: sessionmaker[Session], *, node: str = "", backoff: Backoff | None = None,
                 poll_s: float = 1.0, parallel: int = 8, clock: Callable[[], datetime] | None = None) -> None:
        self.store = WebhookStore(sessions, node, backoff)
        self.poll_s = poll_s
        self.parallel = parallel
        self.clock = clock or (lambda: datetime.now(UTC))
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def _sql(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), SQL_TIMEOUT_S)

    async def __aenter__(self) -> WebhookSender:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        self._task = asyncio.create_task(self._loop(), name="webhooks")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            await stop_tasks([self._task])  # (a cancel may be lost once: dialer.runtime.tasks)
        if self._http is not None:
            await self._http.close()

    async def _loop(self) -> None:
        while True:
            sent = 0
            try:
                due = await self._sql(self.store.due, self.clock(), self.parallel)
                sends = [asyncio.create_task(self._send(out)) for out in due]
                try:
                    if sends:
                        await asyncio.wait(sends, timeout=TIMEOUT_S + 2 * SQL_TIMEOUT_S)
                finally:  # stopping (or a send past every timeout): its lease runs out, it is sent again
                    for send in sends:
                        send.cancel()
                sent = len(due)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - SQL trouble: the leases run out, next round
                log.error("webhooks: %s", exc)
            if sent < self.parallel:
                await asyncio.sleep(self.poll_s)

    async def _send(self, out: Outgoing) -> None:
        assert self._http is not None
        body = out.body.encode()
        headers = {"Content-Type": "application/json", "X-Dialer-Event": out.kind, "X-Dialer-Event-Id": out.event_id,
                   "Idempotency-Key": out.event_id, "X-Dialer-Signature": signature(out.secret, int(time.time()), body)}
        status: int | None = None
        try:
            async with self._http.post(out.url, data=body, headers=headers) as answer:
                status = answer.status
                await answer.read()
            if 200 <= status < 300:
                await self._sql(self.store.delivered, out.id, status, self.clock())
                return
            error = f"HTTP {status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        state = await self._sql(self.store.failed, out, status, error, self.clock())
        log.log(logging.ERROR if state == DEAD else logging.WARNING, "webhook %s %s to %s: %s (try %d)%s",
                out.kind, out.event_id, out.url, error, out.tries + 1, "; dead" if state == DEAD else "")
