"""agi_scripts/dialer_agi.py, the process-per-call AGI transport.

The sandbox chroot has no python3, so Asterisk cannot start the script inside it. The script is
tested as a child process against a fake Asterisk on its pipes, and against the real Asterisk
through a relay: AGI() runs a bash script in the chroot that joins its stdin/stdout to a TCP
connection, and the test starts dialer_agi.py on the host with that connection as its
stdin/stdout: Asterisk's bytes reach the script unchanged (only SIGHUP cannot cross the relay).
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import socket
import sys
import uuid
from pathlib import Path

import pytest

from dialer.ami import AmiClient
from dialer.sandbox.instance import Sandbox
from tests.fake_agi import FakeAsterisk, header

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "agi_scripts" / "dialer_agi.py"


async def start(*args: str) -> tuple[asyncio.subprocess.Process, FakeAsterisk]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout
    return proc, FakeAsterisk(proc.stdout, proc.stdin)


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """The script's exit status and stderr; killed (by its pid) if it does not end in 10 s."""
    assert proc.stderr
    try:
        err = await asyncio.wait_for(proc.stderr.read(), 10)
        return await asyncio.wait_for(proc.wait(), 10), err.decode()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise


async def test_script_runs_a_handler_and_turns_sighup_into_hangup() -> None:
    proc, peer = await start("--handler", "tests.agi_handlers:echo", "echo-test")
    peer.send(header("ignored", agi_request="dialer_agi.py", agi_arg_1="echo-test", agi_arg_2="x y"))
    peer.send("")
    await peer.expect("ANSWER", "200 result=0")
    await peer.expect('GET VARIABLE "NAME"', '200 result=1 (A "b" \\c)')
    await peer.expect('VERBOSE "script=echo-test args=[\'echo-test\', \'x y\'] NAME=A \\"b\\" \\\\c" "1"', "200 result=1")
    await peer.expect('WAIT FOR DIGIT "5000"')
    proc.send_signal(signal.SIGHUP)  # what Asterisk does when the channel hangs up
    await asyncio.sleep(0.2)
    peer.send("200 result=-1\n")
    # no CHANNEL STATUS probe: the SIGHUP already said the channel is gone
    await peer.expect('VERBOSE "saw hangup: channel hung up during WAIT FOR DIGIT" "1"', "200 result=1")
    assert await finish(proc) == (0, "")


async def test_script_logs_a_failing_flow_with_its_attempt() -> None:
    proc, peer = await start("--handler", "tests.agi_handlers:boom", "x")
    peer.send(header("x"))
    await peer.expect('GET VARIABLE "DIALER_ATTEMPT"', "200 result=1 (att-7)")
    code, err = await finish(proc)
    assert code == 1 and "flow failed (attempt att-7)" in err and "boom" in err


async def test_script_without_flows_or_header_says_why() -> None:
    proc, peer = await start("no-such-flow")
    peer.send(header("x"))
    if importlib.util.find_spec("dialer.ivr.flows") is None:
        why = "dialer.ivr.flows cannot be imported: this dialer installation has no IVR flows"
    else:
        why = "no flow named 'no-such-flow'"
    await peer.expect(f'VERBOSE "dialer_agi.py: {why}" "1"', "200 result=1")
    code, err = await finish(proc)
    assert code == 2 and why in err

    proc, peer = await start("x")
    peer.close()  # no header at all
    code, err = await finish(proc)
    assert code == 2 and "empty AGI header" in err


RELAY = """#!/bin/bash
# join this AGI script's stdin/stdout to 127.0.0.1:{port} (test only)
exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1
cat <&3 &
cat >&3
wait
"""


@pytest.mark.asterisk
async def test_script_through_real_asterisk(sandbox: Sandbox, ami: AmiClient) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        relay_inner = f"{sandbox.inner_var}/agi-relay.sh"
        relay = sandbox.host_path(relay_inner)
        relay.write_text(RELAY.format(port=listener.getsockname()[1]))
        relay.chmod(0o755)
        channel_id = str(uuid.uuid4())
        with ami.events(["UserEvent"]) as events:
            response = await ami.originate(
                channel="Local/s@sim-test-agi-caller", context="sim-test-agi", channel_id=channel_id,
                variables={"AGIURL": relay_inner, "HOLD": "1"},
            )
            assert response.get("Response") == "Success", response
            conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 10)
            with conn:
                conn.setblocking(True)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, str(SCRIPT), "--handler", "tests.agi_handlers:process_call", "echo-test",
                    cwd=ROOT, stdin=conn.fileno(), stdout=conn.fileno(), stderr=asyncio.subprocess.PIPE,
                )
            try:
                event = await events.wait_for(
                    lambda e: e.get("UserEvent") == "AgiProcess" and e.get("Uniqueid") == channel_id, 20
                )
            finally:
                code, err = await finish(proc)
                relay.unlink(missing_ok=True)
    assert (code, err) == (0, "")
    assert (event.get("Script"), event.get("Key"), event.get("Digits"), event.get("Same")) == (
        "echo-test", "5", "1234 False", "True"
    )
