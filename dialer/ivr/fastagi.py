"""A small FastAGI server: one asyncio task per call, routed by the path of agi://host:port/<path>.

Asterisk connects, sends the agi_* header block and a blank line, then waits for commands.
The header is read within ``header_timeout`` seconds: a client that sends half a header and
closes, or sends nothing, costs one task for at most that long and never blocks other calls
(panoramisk 1.4's FastAGI server spins on such a client, hence this module).

When the path names no flow the server logs a warning, sends one VERBOSE line and closes the
connection; AGI() then returns with AGISTATUS=SUCCESS and the dialplan goes on with its next
priority (dialer-outbound hangs up there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dialer.ivr.agi import MAX_LINE, AgiError, AgiHangup, read_env, script_of
from dialer.ivr.agi_channel import AgiChannel

log = logging.getLogger(__name__)

Handler = Callable[[AgiChannel], Awaitable[None]]
HandlerLookup = Callable[[str], Handler | None]

ATTEMPT_VARIABLE = "DIALER_ATTEMPT"
_CLOSE_TIMEOUT_S = 2.0


class FastAgiServer:
    """``async with``-free on purpose: the daemon owns start() and close(drain_timeout)."""

    def __init__(
        self,
        handler_for: HandlerLookup,
        host: str,
        port: int,
        *,
        header_timeout: float = 5.0,
        max_sessions: int = 2000,
        max_header_lines: int = 200,
    ) -> None:
        self.handler_for = handler_for
        self.host = host
        self._port = port
        self.header_timeout = header_timeout
        self.max_sessions = max_sessions
        self.max_header_lines = max_header_lines
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.served = 0  # connections that reached a handler
        self.rejected = 0  # connections closed before a handler (bad header, no flow, too many)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def sessions(self) -> int:
        """Connections open now (reading a header or running a handler)."""
        return len(self._tasks)

    async def start(self) -> None:
        # a deep accept queue: Asterisk may open hundreds of sessions within a second
        backlog = max(100, min(self.max_sessions, 4096))
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._port, limit=MAX_LINE, backlog=backlog
        )
        log.info("FastAGI server listening on %s:%s", self.host, self.port)

    async def close(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting, let running sessions end for ``drain_timeout`` s, then cancel them."""
        if self._server is None:
            return
        self._server.close()
        pending = set(self._tasks)
        if pending:
            log.info("FastAGI: waiting up to %g s for %d session(s)", drain_timeout, len(pending))
            _, pending = await asyncio.wait(pending, timeout=drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("FastAGI: cancelled %d session(s) still running after %g s", len(pending), drain_timeout)
            await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT_S)
        try:
            await asyncio.wait_for(self._server.wait_closed(), _CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("FastAGI: listening socket did not close within %g s", _CLOSE_TIMEOUT_S)
        self._server = None

    # -- one connection -------------------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(reader, writer)
        finally:
            self._tasks.discard(task)
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if len(self._tasks) > self.max_sessions:
            self.rejected += 1
            log.warning("FastAGI: %d sessions open (max %d): closing %s", len(self._tasks) - 1, self.max_sessions, peer)
            return
        try:
            env = await read_env(reader, timeout=self.header_timeout, max_lines=self.max_header_lines)
        except AgiError as exc:
            self.rejected += 1
            log.warning("FastAGI: no usable header from %s: %s", peer, exc)
            return
        channel = AgiChannel(env, reader, writer)
        try:
            handler = self.handler_for(channel.script)
        except Exception:
            log.exception("FastAGI: looking up the flow %r failed", channel.script)
            handler = None
        if handler is None:
            self.rejected += 1
            log.warning("FastAGI: no flow named %r (channel %s): closing", script_of(env), channel.channel_name)
            try:
                await channel.verbose(f"dialer: no flow named {channel.script}", 1)
            except AgiError:
                pass
            return
        self.served += 1
        await self._run(handler, channel)

    async def _run(self, handler: Handler, channel: AgiChannel) -> None:
        try:
            await handler(channel)
        except AgiHangup as exc:
            log.debug("FastAGI %s: hung up (%s)", channel.script, exc)
        except asyncio.CancelledError:
            log.warning("FastAGI %s: session cancelled (attempt %s)", channel.script, channel.uniqueid)
            raise
        except Exception:
            attempt = await attempt_of(channel)
            log.exception("FastAGI %s: flow failed (attempt %s, channel %s)", channel.script, attempt, channel.channel_name)


async def attempt_of(channel: AgiChannel) -> str:
    """The attempt id for a log line: DIALER_ATTEMPT, else an agi_arg ``attempt=``, else uniqueid."""
    try:
        reply = await channel.command("GET VARIABLE", ATTEMPT_VARIABLE, timeout=_CLOSE_TIMEOUT_S)
        if reply.result == 1 and reply.data:
            return reply.data
    except AgiError:
        pass
    for arg in channel.args:
        if arg.startswith("attempt="):
            return arg.split("=", 1)[1]
    return channel.uniqueid or "?"


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_TIMEOUT_S)
    except (TimeoutError, ConnectionError, OSError):
        pass
