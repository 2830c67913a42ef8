"""SMPP receipts that overtake aiosmpplib's own matching (no log id on the deliver_sm): the gateway
remembers which submit each SMSC message id answered, so the receipt still names its text and,
for a text split here, its part."""

from __future__ import annotations

from typing import Any

from dialer.sms.gateway import Receipt, Reply
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway


class _Answer:
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id


class _Receipt:
    log_id = None  # aiosmpplib could not match it

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id

    def is_receipt(self) -> bool:
        return True

    def parse_receipt(self) -> dict[str, Any]:
        return {"id": self.message_id, "stat": "DELIVRD", "err": "000"}


class _Inbound:
    def __init__(self) -> None:
        self.receipts: list[Receipt] = []

    def receipt(self, receipt: Receipt) -> None:
        self.receipts.append(receipt)

    def reply(self, reply: Reply) -> None:
        raise AssertionError(reply)


def test_a_receipt_without_log_id_is_matched_through_the_submit_it_answered() -> None:
    gateway = SmppGateway(GatewaySettings.from_url("smpp://dialer:secret@127.0.0.1:2775"))
    inbound = _Inbound()
    gateway._inbound = inbound  # type: ignore[assignment]
    gateway._answered("sms-7-p123", _Answer("m-2"))  # part 2 of a text split here
    gateway._answered("sms-8-456", _Answer("m-9"))  # a text aiosmpplib sent whole
    gateway._deliver(_Receipt("m-2"))  # type: ignore[arg-type]
    gateway._deliver(_Receipt("m-9"))  # type: ignore[arg-type]
    gateway._deliver(_Receipt("m-unknown"))  # type: ignore[arg-type]
    got = [(r.sms_id, r.per_part, r.smsc_id) for r in inbound.receipts]
    assert got == [(7, True, "m-2"), (8, False, "m-9"), (None, False, "m-unknown")]
