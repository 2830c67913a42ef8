"""Stopping the SMS side never hangs the daemon's stop: an SMSC that does not answer the unbind
(or a session stuck in its reconnect backoff) is cut after a short try, and a gateway that does
not close at all is left behind with a warning instead of failing the stop."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from dialer.sms.gateway import Inbound, Outgoing, Submitted
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import STOP_S, SmppGateway
from dialer.storage import db
from tests.campaigns import new_database


async def _forever() -> None:
    await asyncio.sleep(3600)


def test_an_smpp_session_whose_unbind_is_never_answered_is_cut_after_a_short_try() -> None:
    async def main() -> tuple[float, bool]:
        gateway = SmppGateway(GatewaySettings.from_url("smpp://dialer:secret@127.0.0.1:2775"))
        gateway.esme.stop = _forever  # type: ignore[method-assign]
        session = asyncio.create_task(_forever())
        gateway._task = session
        started = time.monotonic()
        await asyncio.wait_for(gateway.close(), 30)
        return time.monotonic() - started, session.cancelled()

    took, cancelled = asyncio.run(main())
    assert cancelled
    assert STOP_S - 0.1 <= took < STOP_S + 1.0


class _Stuck:
    name = "stuck"
    ready = True

    async def start(self, inbound: Inbound) -> None:
        return None

    async def send(self, message: Outgoing) -> Submitted:
        raise AssertionError("nothing is sent in this test")

    async def close(self) -> None:
        await _forever()


def test_a_gateway_that_never_closes_is_left_behind_with_a_warning(tmp_path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    sessions = db.session_factory(db.make_engine(new_database(str(tmp_path / "d.db"))))

    async def main() -> float:
        service = SmsService(sessions, _Stuck(), recover=False)
        started = time.monotonic()
        await service.close(timeout_s=0.5)
        return time.monotonic() - started

    with caplog.at_level(logging.WARNING, logger="dialer.sms.service"):
        took = asyncio.run(main())
    assert took < 2.0
    assert "SMS gateway stuck did not close within" in caplog.text
