"""The SMS gateway interface: one text out (`send`), delivery receipts and replies in (`Inbound`).

Two backends implement it: dialer.sms.kannel (Kannel's HTTP sendsms; receipts and replies come
back over HTTP to dialer.sms.listener) and dialer.sms.smpp (a direct SMPP transceiver bind).
`send` raises SendError, `temporary` saying whether a later try may succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from dialer.sms.text import Split

# receipt states (the sms table's words)
SENT, DELIVERED, FAILED, EXPIRED = "sent", "delivered", "failed", "expired"


@dataclass(frozen=True)
class Outgoing:
    sms_id: int
    to: str  # E.164
    text: str
    sender: str
    split: Split  # the encoding and the parts, counted by dialer.sms.text


@dataclass(frozen=True)
class Submitted:
    """The gateway took the text: the SMSC's ids (one per part where it tells them) and the parts
    actually sent (a backend may change the encoding, see dialer.sms.smpp)."""

    smsc_ids: tuple[str, ...]
    split: Split


class SendError(Exception):
    def __init__(self, message: str, code: str, temporary: bool) -> None:
        super().__init__(message)
        self.code = code
        self.temporary = temporary


@dataclass(frozen=True)
class Receipt:
    """A delivery report: for our sms id (Kannel's dlr-url carries it) or the SMSC's id (SMPP)."""

    state: str  # sent | delivered | failed | expired
    sms_id: int | None = None
    smsc_id: str | None = None
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    per_part: bool = False  # one report per part (SMPP): the text is delivered when all its parts are


@dataclass(frozen=True)
class Reply:
    """A text a person sent back (MO)."""

    number: str  # who sent it
    to: str  # our number or short code
    text: str
    gateway: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Inbound(Protocol):
    """Where a gateway hands what comes in; never awaits, never raises."""

    def receipt(self, receipt: Receipt) -> None: ...
    def reply(self, reply: Reply) -> None: ...


class Gateway(Protocol):
    name: str

    @property
    def ready(self) -> bool:
        """Whether a send can start now (an SMPP session is bound). While it is not, the sender
        claims nothing: texts stay queued and no try is spent on an outage."""
        ...

    async def start(self, inbound: Inbound) -> None: ...
    async def send(self, message: Outgoing) -> Submitted: ...
    async def close(self) -> None: ...
