"""The FastAGI server against the sandbox's real Asterisk.

A Local channel is originated into [sim-test-agi], which runs AGI(agi://127.0.0.1:<port>/...)
against our server; its other half is the caller of [sim-test-agi-caller], who presses 5 as
soon as the IVR speaks, 1234 once it has spoken again and fallen silent, and hangs up.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from dialer.ami import AmiClient
from dialer.ivr.agi import AgiError, AgiHangup
from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.fastagi import FastAgiServer, Handler
from dialer.sandbox.instance import Sandbox

pytestmark = pytest.mark.asterisk

NASTY = 'José "Pepe" O\'Brien \\ 12,5 (x) $[1+1] ${EXTEN} ;|&'


@pytest.fixture
async def agi_server(sandbox: Sandbox) -> AsyncIterator[tuple[FastAgiServer, dict[str, Handler]]]:
    routes: dict[str, Handler] = {}
    server = FastAgiServer(routes.get, "127.0.0.1", sandbox.agi.port)
    await server.start()
    yield server, routes
    await server.close(2.0)


async def call(ami: AmiClient, sandbox: Sandbox, path: str, hold_s: int = 1) -> str:
    channel_id = str(uuid.uuid4())
    response = await ami.originate(
        channel="Local/s@sim-test-agi-caller",
        context="sim-test-agi",
        channel_id=channel_id,
        variables={"AGIURL": f"{sandbox.agi.url}/{path}", "HOLD": str(hold_s)},
    )
    assert response.get("Response") == "Success", response
    return channel_id


async def test_a_whole_call_over_fastagi(agi_server, ami: AmiClient, sandbox: Sandbox) -> None:
    server, routes = agi_server
    seen: dict[str, object] = {}
    done = asyncio.Event()

    async def echo_test(ch: AgiChannel) -> None:
        seen["script"], seen["args"] = ch.script, ch.args
        try:
            await ch.answer()
            try:
                await ch.stream_file("no-such-prompt")
            except AgiHangup:
                seen["missing"] = "hangup"
            except AgiError as exc:
                seen["missing"] = str(exc)
            seen["key"] = await ch.stream_file("demo-congrats", "0123456789")  # 12 s unless a key stops it
            seen["data"] = await ch.get_data("hello-world", 5000, 4)
            await ch.set_variable("AGITEST", NASTY)
            seen["var"] = await ch.get_variable("AGITEST")
            seen["exec"] = await ch.exec("UserEvent", "AgiTest", f"Value: {NASTY}")
            await ch.verbose(NASTY, 3)
            await ch.wait_for_digit(10000)  # the caller hangs up 1 s after 1234
            seen["end"] = "no hangup"
        except AgiHangup:
            seen["end"] = "hangup"
            seen["var_after_hangup"] = await ch.get_variable("AGITEST")  # allowed on a dead channel
        finally:
            done.set()

    routes["echo-test"] = echo_test
    loop = asyncio.get_running_loop()
    with ami.events(["UserEvent"]) as events:
        started = loop.time()
        channel_id = await call(ami, sandbox, "echo-test?campaign=1")
        await asyncio.wait_for(done.wait(), 30)
        elapsed = loop.time() - started
        user_event = await events.wait_for(
            lambda e: e.get("UserEvent") == "AgiTest" and e.get("Uniqueid") == channel_id, 5
        )
    assert seen == {
        "script": "echo-test",
        "args": [],
        "missing": "STREAM FILE no-such-prompt failed (result -1, channel still up)",
        "key": "5",
        "data": ("1234", False),
        "var": NASTY,
        "exec": 0,
        "end": "hangup",
        "var_after_hangup": NASTY,
    }
    assert user_event.get("Value") == NASTY
    assert elapsed < 12  # the key really interrupted demo-congrats
    async with asyncio.timeout(5):
        while server.sessions:
            await asyncio.sleep(0.05)
    assert server.served == 1


async def test_unknown_flow_lets_the_dialplan_go_on(
    agi_server, ami: AmiClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    server, _routes = agi_server
    caplog.set_level(logging.WARNING, "dialer.ivr.fastagi")
    with ami.events(["UserEvent"]) as events:
        channel_id = await call(ami, sandbox, "no-such-flow")
        event = await events.wait_for(lambda e: e.get("UserEvent") == "SimAgi" and e.get("Uniqueid") == channel_id, 15)
    assert event.get("Status") == "SUCCESS"
    assert "no flow named 'no-such-flow'" in caplog.text
    assert server.rejected == 1 and server.served == 0
