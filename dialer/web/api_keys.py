"""API keys as a way in: `Authorization: Bearer <key>` (the key's SHA-256 looked up in SQL, so a
removed key stops at once), its scopes, and a token bucket per key in memory (429 with
Retry-After when a key asks faster than its rate).

Scopes on the guard (dialer.web.auth): a read key has "api:read"; write adds "api:write"; admin adds
"api:admin". The principal is Principal("key", NAME): audit rows say actor "key:NAME".
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from dialer.storage import api_key_store
from dialer.web.auth import token_hash
from dialer.web.context import DEPS, SQL, Principal

log = logging.getLogger(__name__)

PREFIX = "dk_"
SCOPES = {"read": frozenset({"api:read"}), "write": frozenset({"api:read", "api:write"}),
          "admin": frozenset({"api:read", "api:write", "api:admin"})}  # fmt: skip
USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


def new_key() -> str:
    """A fresh key, shown once; SQL keeps only token_hash(key)."""
    return PREFIX + secrets.token_urlsafe(32)


class TokenBucket:
    """`rate` requests a second on average, bursts up to `burst`; time from a monotonic clock."""

    def __init__(self, rate: float, burst: int, clock: Any = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = float(burst), clock()

    def take(self) -> float:
        """0 if a request may go now (one token taken), else the seconds until one may."""
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class ApiKeyAuth:
    """The authenticator of API keys; `rate`/`burst` per key (DIALER_API_RATE, DIALER_API_BURST)."""

    rate: float = 10.0
    burst: int = 50
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    used: dict[str, datetime] = field(default_factory=dict)

    async def identify(self, request: web.Request) -> Principal | None:
        given = request.headers.get("Authorization", "")
        if not given.startswith(f"Bearer {PREFIX}") or len(given) > 200:
            return None
        deps = request.app[DEPS]
        found = await request.app[SQL].run(_find, deps.sessions, token_hash(given[7:].strip()))
        if found is None:
            return None
        name, scope = found
        bucket = self.buckets.setdefault(name, TokenBucket(self.rate, self.burst))
        wait = bucket.take()
        if wait > 0:
            raise web.HTTPTooManyRequests(text=f'{{"error": "key {name} is over its rate of {self.rate:g}/s"}}',
                                          content_type="application/json",
                                          headers={"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip
        now = deps.clock()
        last = self.used.get(name)
        if last is None or now - last >= USED_EVERY:
            self.used[name] = now
            await request.app[SQL].run(_mark_used, deps.sessions, name, now)
        return Principal("key", name, SCOPES.get(scope, frozenset()))


def _find(sessions: Any, digest: str) -> tuple[str, str] | None:
    with sessions() as s:
        return api_key_store.key_by_hash(s, digest)


def _mark_used(sessions: Any, name: str, now: datetime) -> None:
    with sessions.begin() as s:
        api_key_store.mark_used(s, name, now)
