#!/usr/bin/env python3
"""Process-per-call AGI: the dialer's flows for sites that run AGI scripts from agi-bin.

    exten => s,n,AGI(dialer_agi.py,collections)

Asterisk starts this script for the call and talks AGI over its stdin/stdout. pyst2
(asterisk.agi.AGI) reads and parses the agi_* header and catches the SIGHUP Asterisk sends on
hangup; the commands themselves go through dialer.ivr.agi.AgiChannel (our escaping: pyst2's
own quoting does not escape double quotes), so a flow runs unchanged here and over FastAGI.
A SIGHUP is turned into the same "HANGUP" line a FastAGI session receives.

The flow comes from dialer.ivr.flows.handler_for(<flow>); ``--handler module:function`` runs a
given handler instead (tests). A flow runs only for a session its gate believes (dialer.ivr.trust:
the attempt's token, checked against the hash on the attempt row). Exit status: 0 flow ended (or
the caller hung up), 1 the flow failed, 2 usage or set-up error, or a refused session (message on
stderr, which Asterisk logs).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import socket
import stat
import sys
from pathlib import Path
from typing import Any

# A symlink in agi-bin points here: make the project importable from its checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asterisk.agi import AGI, AGISIGHUPHangup  # noqa: E402  (pyst2)

from dialer.ivr.agi import MAX_LINE, AgiHangup  # noqa: E402
from dialer.ivr.agi_channel import AgiChannel  # noqa: E402
from dialer.ivr.fastagi import Handler, attempt_of  # noqa: E402
from dialer.ivr.trust import Refused  # noqa: E402

log = logging.getLogger("dialer_agi")

HEADER_TIMEOUT_S = 5


class SetupError(Exception):
    """The script cannot run the flow (missing module, unknown flow, no header)."""


class SighupReader:
    """stdin lines; once pyst2 has seen SIGHUP, one ``HANGUP`` line first (as FastAGI sends)."""

    def __init__(self, agi: AGI, reader: asyncio.StreamReader) -> None:
        self._agi = agi
        self._reader = reader
        self._told = False
        self._held: bytes | None = None

    def _hung_up(self) -> bool:
        try:
            self._agi.test_hangup()
        except AGISIGHUPHangup:
            return True
        return False

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        if self._held is not None:
            line, self._held = self._held, None
            return line
        if not self._told and self._hung_up():
            self._told = True
            return b"HANGUP\n"
        line = await self._reader.readuntil(separator)
        if not self._told and self._hung_up():
            self._told = True
            self._held = line
            return b"HANGUP\n"
        return line


def read_header(timeout: int = HEADER_TIMEOUT_S) -> AGI:
    """pyst2 reads the agi_* block from stdin (its diagnostics go nowhere: they hold the env)."""

    def _alarm(_signum: int, _frame: Any) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        agi = AGI(stdin=sys.stdin, stdout=sys.stdout, stderr=open(os.devnull, "w"))
    except TimeoutError:
        raise SetupError(f"no AGI header on stdin within {timeout} s (run this from Asterisk's AGI())") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if not agi.env:
        raise SetupError("empty AGI header on stdin (run this from Asterisk's AGI())")
    return agi


async def make_channel(agi: AGI | None = None) -> AgiChannel:
    """An AgiChannel over this process's stdin/stdout, from a pyst2 AGI that read the header."""
    agi = agi or read_header()
    loop = asyncio.get_running_loop()
    if stat.S_ISSOCK(os.fstat(sys.stdout.fileno()).st_mode):
        # stdin/stdout joined to a socket (inetd style, or the tests' relay): a write pipe
        # transport would take the peer's next reply for "closed", so use the socket as one.
        sock = socket.socket(fileno=os.dup(sys.stdout.fileno()))
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE)
    else:  # Asterisk's own AGI(): two pipes
        reader = asyncio.StreamReader(limit=MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return AgiChannel(dict(agi.env), SighupReader(agi, reader), writer)


def load_handler(flow: str, spec: str | None) -> Handler:
    if spec:
        module_name, _, attr = spec.partition(":")
        handler = getattr(importlib.import_module(module_name), attr or "handler", None)
        if handler is None:
            raise SetupError(f"--handler {spec}: no such function")
        return handler  # type: ignore[no-any-return]
    try:
        flows = importlib.import_module("dialer.ivr.flows")
    except ModuleNotFoundError as exc:
        if exc.name not in ("dialer.ivr.flows", "dialer.ivr", "dialer"):
            raise
        raise SetupError(f"{exc.name} cannot be imported: this dialer installation has no IVR flows") from None
    handler = flows.handler_for(flow)
    if handler is None:
        raise SetupError(f"no flow named {flow!r}")
    return handler  # type: ignore[no-any-return]


async def run(flow: str | None, spec: str | None) -> int:
    channel = await make_channel()
    name = flow or (channel.args[0] if channel.args else "")
    try:
        handler = load_handler(name, spec)
    except SetupError as exc:
        log.error("dialer_agi.py: %s", exc)
        await channel.verbose(f"dialer_agi.py: {exc}", 1)
        channel.close()
        return 2
    channel.script = name  # flows see their own name, as over FastAGI
    try:
        await handler(channel)
    except AgiHangup as exc:
        log.debug("%s: hung up (%s)", name, exc)
    except Refused as exc:
        log.error("dialer_agi.py: session refused (channel %s): %s", channel.channel_name[:80], exc)
        return 2
    except Exception:
        log.exception("%s: flow failed (attempt %s)", name, await attempt_of(channel))
        return 1
    finally:
        channel.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a dialer IVR flow as a process AGI script.")
    parser.add_argument("flow", nargs="?", help="flow name (default: the first AGI argument)")
    parser.add_argument("--handler", metavar="MODULE:FUNCTION", help="run this handler instead of a flow")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args.flow, args.handler))
    except SetupError as exc:
        print(f"dialer_agi.py: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
