"""AmiClient against a scripted AMI peer: errors, timeouts, never re-sending an Originate."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from dialer.ami import AmiAuthError, AmiClient, AmiConnectError, AmiDisconnected, AmiTimeout
from dialer.config import AmiSettings
from tests.fake_ami import FakeAmi


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi().start()
    yield server
    await server.stop()


def settings(port: int, secret: str = "s3cret", action_timeout: float = 1.0) -> AmiSettings:
    return AmiSettings(port=port, secret=secret, connect_timeout=1.0, action_timeout=action_timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_ami_is_one_clear_error() -> None:
    port = free_port()
    with pytest.raises(AmiConnectError, match=f"127.0.0.1:{port} unreachable"):
        await AmiClient(settings(port)).connect()


async def test_refused_login_names_the_user(fake: FakeAmi) -> None:
    with pytest.raises(AmiAuthError, match="login as 'dialer' refused"):
        await AmiClient(settings(fake.port, secret="wrong")).connect()


async def test_login_then_fully_booted_then_ping(fake: FakeAmi) -> None:
    async with AmiClient(settings(fake.port)) as ami:
        await ami.wait_fully_booted(1.0)
        await ami.ping()
    assert [a["Action"] for a in fake.received] == ["Login", "Ping"]
    assert fake.received[0]["Username"] == "dialer"


async def test_a_silent_peer_times_out(fake: FakeAmi) -> None:
    fake.script["Ping"] = lambda _a: "silent"
    async with AmiClient(settings(fake.port, action_timeout=0.3)) as ami:
        with pytest.raises(AmiTimeout, match="Ping got no answer within 0.3 s"):
            await ami.ping()


async def test_originate_in_flight_fails_on_disconnect_and_is_never_resent(fake: FakeAmi) -> None:
    fake.script["Originate"] = lambda _a: "close"
    ami = AmiClient(settings(fake.port))
    await ami.connect()
    with pytest.raises(AmiDisconnected):
        await ami.originate(channel="Local/1@x", context="c", channel_id="id-1", timeout_ms=1000)
    assert await ami.wait_disconnected(1.0)
    # a new session on the same client, and Asterisk says FullyBooted again: panoramisk
    # would re-send pending actions now; ours must not.
    await ami.connect()
    await ami.wait_fully_booted(1.0)
    await ami.ping()
    await asyncio.sleep(0.1)
    ami.close()
    assert len(fake.actions("Originate")) == 1


async def test_originate_returns_the_originate_response(fake: FakeAmi) -> None:
    def originate(action: dict[str, str]) -> list[dict[str, str]]:
        return [
            {"Response": "Success", "Message": "Originate successfully queued"},
            {"Event": "OriginateResponse", "Response": "Failure", "Reason": "5", "Uniqueid": action["ChannelId"]},
        ]

    fake.script["Originate"] = originate
    async with AmiClient(settings(fake.port)) as ami:
        with ami.events(["OriginateResponse"]) as stream:
            resp = await ami.originate(
                channel="Local/1@x", context="c", channel_id="id-2", variables={"DIALER_ATTEMPT": "id-2"}
            )
            seen = await stream.get(1.0)
    assert (resp["Reason"], seen["Uniqueid"]) == ("5", "id-2")
    sent = fake.actions("Originate")[0]
    assert (sent["ChannelId"], sent["Async"], sent["Variable"]) == ("id-2", "true", "DIALER_ATTEMPT=id-2")


async def test_every_subscriber_gets_the_events_it_asked_for(fake: FakeAmi) -> None:
    async with AmiClient(settings(fake.port)) as ami:
        with ami.events() as all_events, ami.events(["Hangup"]) as hangups:
            await ami.wait_fully_booted(1.0)
            await fake.send_event({"Event": "Newchannel", "Uniqueid": "a"})
            await fake.send_event({"Event": "Hangup", "Uniqueid": "a", "Cause": "16"})
            last = await all_events.wait_for(lambda e: e["Event"] == "Hangup", 1.0)
            only = await hangups.get(1.0)
    assert last["Cause"] == "16"
    assert only["Event"] == "Hangup"
    assert hangups.drain() == []
