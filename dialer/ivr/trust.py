"""Who the FastAGI side believes: Asterisk's peer addresses, and a per-attempt token.

The daemon draws a random token for every attempt and hands it to Asterisk as the Originate's
channel variable DIALER_TOKEN; only its SHA-256 is kept (in the live call and on the attempt row).
A session runs a flow only when it reads, from its own channel:
- DIALER_ATTEMPT, a well-formed attempt id equal to the channel's own Uniqueid (the attempt id is
  the Originate's ChannelId, so the outbound leg's Uniqueid is the attempt id);
- DIALER_TOKEN, whose hash matches the one issued for that attempt.
The gate then takes the token out of the channel (SET VARIABLE DIALER_TOKEN ""), so it does not
outlive its use. Whatever fails, the session is refused with one log line, nothing is written
and nothing is sent to the peer but the two GET VARIABLE commands.

The token never goes to logs, live events, exports or reports.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from typing import Protocol

ATTEMPT_VARIABLE = "DIALER_ATTEMPT"
TOKEN_VARIABLE = "DIALER_TOKEN"
LOOPBACK = ("127.0.0.1", "::1")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """A session the gate does not believe; the message says why (never the token)."""


class ClaimChannel(Protocol):
    """What the gate reads from a session: the header's Uniqueid and channel variables."""

    @property
    def uniqueid(self) -> str: ...
    async def get_variable(self, name: str) -> str | None: ...
    async def set_variable(self, name: str, value: str) -> None: ...


def new_token() -> str:
    """A fresh per-attempt token: 192 random bits, URL-safe (no comma, no quote, no '=')."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, issued_hash: str | None) -> bool:
    return bool(issued_hash) and hmac.compare_digest(token_hash(token), str(issued_hash))


@dataclass(frozen=True)
class Claim:
    """What a session says it is: an attempt id and the token it read from its channel."""

    attempt_id: str
    token: str


async def read_claim(channel: ClaimChannel) -> Claim:
    """The session's attempt and token, the attempt cross-checked with the channel's Uniqueid."""
    attempt_id = await channel.get_variable(ATTEMPT_VARIABLE) or ""
    try:
        well_formed = str(uuid.UUID(attempt_id)) == attempt_id
    except ValueError:
        well_formed = False
    if not well_formed:
        raise Refused(f"{ATTEMPT_VARIABLE} is not an attempt id ({len(attempt_id)} characters)")
    if channel.uniqueid != attempt_id:
        raise Refused(f"attempt {attempt_id} is not this channel's (its Uniqueid is {channel.uniqueid[:64]!r})")
    token = await channel.get_variable(TOKEN_VARIABLE) or ""
    if not token:
        raise Refused(f"attempt {attempt_id}: no {TOKEN_VARIABLE} on the channel")
    return Claim(attempt_id, token)


@dataclass(frozen=True)
class PeerPolicy:
    """The addresses Asterisk connects from (DIALER_AGI_PEERS); loopback only by default."""

    networks: tuple[Network, ...] = tuple(ipaddress.ip_network(a) for a in LOOPBACK)

    @classmethod
    def parse(cls, text: str, name: str = "DIALER_AGI_PEERS") -> PeerPolicy:
        """Comma- or blank-separated addresses or networks (10.0.0.5, 10.1.0.0/24, ::1)."""
        items = [item for item in text.replace(",", " ").split() if item]
        if not items:
            raise ValueError(f"{name}: no address given (default: {', '.join(LOOPBACK)})")
        networks = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{name}: {item!r} is not an IP address or network") from None
        return cls(tuple(networks))

    def allows(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def describe(self) -> str:
        return ", ".join(str(n) for n in self.networks)

