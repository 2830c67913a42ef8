"""The AGI protocol and the FastAGI server against a fake Asterisk over real TCP sockets."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.agi import (
    AgiError,
    AgiHangup,
    AgiResult,
    AgiTimeout,
    AgiUsageError,
    escape_app_arg,
    escape_arg,
    script_of,
)
from dialer.ivr.fastagi import FastAgiServer, Handler
from tests.fake_agi import FakeAsterisk, header


# -- pure functions -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("hello", '"hello"'),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\path\\", '"C:\\\\path\\\\"'),
        ("ñandú 12,5 $x", '"ñandú 12,5 $x"'),
    ],
)
def test_escape_arg(value: str, sent: str) -> None:
    assert escape_arg(value) == sent


@pytest.mark.parametrize("value", ["a\nANSWER", "a\rb", "a\0b"])
def test_escape_arg_refuses_line_breaks(value: str) -> None:
    with pytest.raises(AgiError, match="line break"):
        escape_arg(value)


def test_escape_app_arg_keeps_commas_inside() -> None:
    assert escape_app_arg("x,y (z)") == "x\\,y \\(z\\)"
    assert escape_app_arg('a\\b"') == 'a\\\\b\\"'


def test_parse_replies() -> None:
    r = AgiResult.parse("200 result=1 (timeout) endpos=1234")
    assert (r.code, r.result, r.data, r.endpos) == (200, 1, "timeout", 1234)
    r = AgiResult.parse("200 result=0123 (timeout)")
    assert (r.result, r.value, r.data) == (123, "0123", "timeout")
    r = AgiResult.parse("200 result=1 (a) b=c (d))")
    assert r.data == "a) b=c (d)"
    r = AgiResult.parse("200 result= (timeout)")
    assert (r.result, r.value, r.data) == (0, "", "timeout")
    r = AgiResult.parse("200 result=53 endpos=5280")
    assert (r.result, r.extra) == (53, {"endpos": "5280"})
    r = AgiResult.parse("510 Invalid or unknown command")
    assert (r.code, r.result, r.data) == (510, -1, "Invalid or unknown command")
    r = AgiResult.parse("520-Invalid command syntax.  Proper usage follows:\nUsage: STREAM FILE\n520 End of proper usage.")
    assert (r.code, r.data) == (520, "Usage: STREAM FILE")
    with pytest.raises(AgiError, match="unreadable"):
        AgiResult.parse("hello")


def test_script_of() -> None:
    assert script_of({"agi_network_script": "collections?x=1"}) == "collections"
    assert script_of({"agi_request": "agi://127.0.0.1:4573/notify?a=b"}) == "notify"
    assert script_of({"agi_request": "/usr/share/asterisk/agi-bin/dialer_agi.py"}) == "dialer_agi.py"


# -- the server with a fake Asterisk --------------------------------------------------------
Routes = dict[str, Handler]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[FastAgiServer]]]:
    servers: list[FastAgiServer] = []

    async def start(routes: Routes, **kw: float) -> FastAgiServer:
        server = FastAgiServer(routes.get, "127.0.0.1", 0, **kw)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in servers:
        await server.close(1.0)


async def wait_idle(server: FastAgiServer, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while server.sessions:
            await asyncio.sleep(0.01)


async def test_header_commands_and_replies(serve) -> None:
    seen: dict[str, object] = {}

    async def flow(ch: AgiChannel) -> None:
        seen["script"], seen["args"] = ch.script, ch.args
        await ch.answer()
        seen["key"] = await ch.stream_file("/tmp/prompts/ab12", "123#")
        seen["data"] = await ch.get_data("beep", 3000, 4)
        seen["var"] = await ch.get_variable("NAME")
        seen["unset"] = await ch.get_variable("NOPE")
        await ch.set_variable("NAME", 'O\'Brien "Jr" \\ 1')
        seen["exec"] = await ch.exec("Queue", "collections", "t,c", "", "", "20")
        seen["digit"] = await ch.wait_for_digit(2000)
        await ch.verbose("done")
        await ch.hangup()

    server = await serve({"echo-test": flow})
    peer = await FakeAsterisk.connect(server.port)
    peer.send(header("echo-test?campaign=7", agi_arg_1="a b", agi_arg_2=""))
    await peer.expect("ANSWER", "200 result=0")
    await peer.expect('STREAM FILE "/tmp/prompts/ab12" "123#"', "200 result=50 endpos=880")
    await peer.expect('GET DATA "beep" "3000" "4"', "200 result=0123 (timeout)")
    await peer.expect('GET VARIABLE "NAME"', "200 result=1 (José (Pepe) \"x\")")
    await peer.expect('GET VARIABLE "NOPE"', "200 result=0")
    await peer.expect('SET VARIABLE "NAME" "O\'Brien \\"Jr\\" \\\\ 1"', "200 result=1")
    await peer.expect('EXEC "Queue" "collections,t\\\\,c,,,20"', "200 result=0")
    await peer.expect('WAIT FOR DIGIT "2000"', "200 result=0")
    await peer.expect('VERBOSE "done" "1"', "200 result=1")
    await peer.expect("HANGUP", "200 result=1")
    assert await peer.rest() == b""  # the server closed the connection
    assert seen == {
        "script": "echo-test",
        "args": ["a b", ""],
        "key": "2",
        "data": ("0123", True),
        "var": 'José (Pepe) "x"',
        "unset": None,
        "exec": 0,
        "digit": None,
    }
    await wait_idle(server)
    assert (server.served, server.rejected) == (1, 0)


async def run_one(serve, flow: Handler, script_replies: list[tuple[str, list[str]]]) -> FakeAsterisk:
    server = await serve({"t": flow})
    peer = await FakeAsterisk.connect(server.port)
    peer.send(header("t"))
    for line, replies in script_replies:
        await peer.expect(line, *replies)
    return peer


async def test_hangup_line_raises_once_then_dead_channel_commands(serve) -> None:
    outcome: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        try:
            await ch.get_variable("X")
        except AgiHangup:
            outcome.append("hangup")
        outcome.append(str(await ch.get_variable("X")))  # allowed on a dead channel
        try:
            await ch.stream_file("beep")
        except AgiHangup as exc:
            outcome.append(f"511: {exc}")

    peer = await run_one(
        serve,
        flow,
        [
            ('GET VARIABLE "X"', ["HANGUP", "200 result=1 (v)"]),
            ('GET VARIABLE "X"', ["200 result=1 (v)"]),
            ('STREAM FILE "beep" ""', ["511 Command Not Permitted on a dead channel or intercept routine"]),
        ],
    )
    assert await peer.rest() == b""
    assert outcome == ["hangup", "v", "511: STREAM FILE: Command Not Permitted on a dead channel or intercept routine"]


async def test_minus_one_is_hangup_only_when_the_channel_is_gone(serve) -> None:
    outcome: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        for _ in range(2):
            try:
                await ch.stream_file("no-such-file")
            except AgiHangup:
                outcome.append("hangup")
            except AgiError as exc:
                outcome.append(f"error: {exc}")

    peer = await run_one(
        serve,
        flow,
        [
            ('STREAM FILE "no-such-file" ""', ["200 result=-1 endpos=0"]),
            ("CHANNEL STATUS", ["200 result=6"]),  # still up: the file was missing
            ('STREAM FILE "no-such-file" ""', ["200 result=-1 endpos=0"]),
            ("CHANNEL STATUS", ["HANGUP", "511 Command Not Permitted on a dead channel or intercept routine"]),
        ],
    )
    assert await peer.rest() == b""
    assert outcome[0].startswith("error: STREAM FILE no-such-file failed")
    assert outcome[1] == "hangup"


async def test_usage_errors_and_closed_connection(serve) -> None:
    outcome: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        for name in ("FOO", "STREAM FILE"):
            try:
                await ch.command(name)
            except AgiUsageError as exc:
                outcome.append(str(exc).split("\n")[0])
        try:
            await ch.answer()
        except AgiHangup as exc:
            outcome.append(str(exc))

    peer = await run_one(
        serve,
        flow,
        [
            ("FOO", ["510 Invalid or unknown command"]),
            ("STREAM FILE", ["520-Invalid command syntax.  Proper usage follows:", "Usage: x", "520 End of proper usage."]),
        ],
    )
    assert await peer.command() == "ANSWER"
    peer.close()
    async with asyncio.timeout(2):
        while len(outcome) < 3:
            await asyncio.sleep(0.01)
    assert outcome == ["FOO: 510 Invalid or unknown command", "STREAM FILE: 520 Usage: x", "AGI connection closed"]


async def test_reply_timeout_and_overlong_reply(serve, caplog: pytest.LogCaptureFixture) -> None:
    outcome: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        ch.command_timeout = 0.2
        try:
            await ch.answer()
        except AgiTimeout as exc:
            outcome.append(f"timeout: {exc}")
        try:
            await ch.answer()
        except AgiError as exc:
            outcome.append(f"after: {exc}")

    peer = await run_one(serve, flow, [("ANSWER", [])])
    assert await peer.rest() == b""
    assert outcome == ["timeout: no reply to ANSWER within 0.2 s", "after: AGI channel unusable: no reply to ANSWER within 0.2 s"]

    async def greedy(ch: AgiChannel) -> None:
        await ch.get_variable("BIG")

    caplog.set_level(logging.ERROR, "dialer.ivr.fastagi")
    peer = await run_one(serve, greedy, [('GET VARIABLE "BIG"', ["200 result=1 (" + "x" * 10000 + ")"])])
    assert await peer.rest() == b""
    assert "longer than" in caplog.text


async def test_handler_error_is_logged_with_the_attempt(serve, caplog: pytest.LogCaptureFixture) -> None:
    async def flow(ch: AgiChannel) -> None:
        raise RuntimeError("boom")

    caplog.set_level(logging.ERROR, "dialer.ivr.fastagi")
    peer = await run_one(serve, flow, [('GET VARIABLE "DIALER_ATTEMPT"', ["200 result=1 (att-42)"])])
    assert await peer.rest() == b""
    assert "attempt att-42" in caplog.text and "boom" in caplog.text


async def test_unknown_flow_gets_a_verbose_and_a_close(serve) -> None:
    server = await serve({})
    peer = await FakeAsterisk.connect(server.port)
    peer.send(header("nope"))
    await peer.expect('VERBOSE "dialer: no flow named nope" "1"', "200 result=1")
    assert await peer.rest() == b""
    await wait_idle(server)
    assert server.rejected == 1


async def test_half_header_then_close_ends_at_once(serve) -> None:
    called: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        called.append(ch.script)

    server = await serve({"echo-test": flow}, header_timeout=30.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_scr")
    await writer.drain()
    writer.close()
    await wait_idle(server, 1.0)  # far below the 30 s header timeout
    assert (called, server.rejected, server.sessions) == ([], 1, 0)


async def test_silent_client_times_out_while_others_are_served(serve) -> None:
    called: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        await ch.answer()
        called.append(ch.script)

    server = await serve({"echo-test": flow}, header_timeout=0.5)
    loop = asyncio.get_running_loop()
    silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = loop.time()
    peer = await FakeAsterisk.connect(server.port)
    peer.send(header())
    await peer.expect("ANSWER", "200 result=0")
    assert await peer.rest() == b""
    assert called == ["echo-test"] and loop.time() - started < 0.5  # served while the other waits
    assert await asyncio.wait_for(silent_reader.read(), 2.0) == b""  # closed by the header timeout
    assert loop.time() - started >= 0.45
    silent_writer.close()
    await wait_idle(server)
    assert (server.served, server.rejected) == (1, 1)


async def test_overlong_header_line_and_too_many_lines(serve) -> None:
    server = await serve({"echo-test": lambda ch: asyncio.sleep(0)}, max_header_lines=10)
    for junk in (b"agi_x: " + b"y" * 9000 + b"\n", b"".join(b"agi_%d: v\n" % i for i in range(20))):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(junk)
        assert await asyncio.wait_for(reader.read(), 2.0) == b""
        writer.close()
    await wait_idle(server)
    assert (server.served, server.rejected) == (0, 2)


async def test_max_sessions_and_close_cancels_stuck_sessions(serve) -> None:
    release = asyncio.Event()
    cancelled: list[str] = []

    async def flow(ch: AgiChannel) -> None:
        try:
            await asyncio.wait_for(release.wait(), 30)
        except asyncio.CancelledError:
            cancelled.append(ch.script)
            raise

    server = await serve({"echo-test": flow}, max_sessions=2)
    peers = []
    for _ in range(2):
        peer = await FakeAsterisk.connect(server.port)
        peer.send(header())
        peers.append(peer)
    async with asyncio.timeout(2):
        while server.served < 2:
            await asyncio.sleep(0.01)
    extra = await FakeAsterisk.connect(server.port)
    extra.send(header())
    assert await extra.rest() == b""  # refused: two sessions already
    loop = asyncio.get_running_loop()
    started = loop.time()
    await server.close(0.2)
    assert loop.time() - started < 1.5
    assert cancelled == ["echo-test", "echo-test"] and server.sessions == 0
    for peer in peers:
        assert await peer.rest() == b""


async def test_cli_agi_serve_believes_no_session_without_its_token_and_stops_on_sigterm() -> None:
    root = Path(__file__).resolve().parents[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "agi", "serve", "--port", "0", cwd=root,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout and proc.stderr
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert first.startswith("FastAGI listening on 127.0.0.1:"), first
        peer = await FakeAsterisk.connect(int(first.rsplit(":", 1)[1]))
        peer.send(header("no-such-flow"))  # the gate comes first: not even the flow's name is looked up
        await peer.expect('GET VARIABLE "DIALER_ATTEMPT"', "200 result=0")
        assert await peer.rest() == b""
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert "refused: DIALER_ATTEMPT is not an attempt id" in (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
