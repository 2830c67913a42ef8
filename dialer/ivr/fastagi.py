"""A small FastAGI server: one asyncio task per call, routed by the path of agi://host:port/<path>.

Asterisk connects, sends the agi_* header block and a blank line, then waits for commands.
The header is read within ``header_timeout`` seconds: a client that sends half a header and
closes, or sends nothing, costs one task for at most that long and never blocks other calls
(panoramisk 1.4's FastAGI server spins on such a client, hence this module).

Who it believes (dialer.ivr.trust): a connection from an address outside ``peers`` is closed
before a byte is read; each peer may hold ``max_per_peer`` sessions. A session is *pending* until
its header is read and its ``gate`` admitted it (the per-attempt token), all within
``header_timeout`` seconds; a peer holds at most ``max_pending_per_peer`` pending sessions, and a
new one evicts its oldest (slow clients cannot hold the cap: Asterisk's own sessions are admitted
within milliseconds). A refused session is logged once and closed; the peer receives nothing.

When the path names no flow the server logs a warning, sends one VERBOSE line and closes the
connection; AGI() then returns with AGISTATUS=SUCCESS and the dialplan goes on with its next
priority (dialer-outbound hangs up there).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol

from dialer.config import AgiSettings, ConfigError
from dialer.ivr.agi import MAX_LINE, AgiError, AgiHangup, read_env, script_of
from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.trust import ATTEMPT_VARIABLE, PeerPolicy, Refused
from dialer.runtime import metrics

log = logging.getLogger(__name__)

Handler = Callable[[AgiChannel], Awaitable[None]]
HandlerLookup = Callable[[str], Handler | None]

_CLOSE_TIMEOUT_S = 2.0


class Gate(Protocol):
    """Admits a session (sets channel.attempt_id) or raises trust.Refused."""

    async def admit(self, channel: AgiChannel) -> None: ...


class FastAgiServer:
    """``async with``-free on purpose: the daemon owns start() and close(drain_timeout)."""

    def __init__(
        self,
        handler_for: HandlerLookup,
        host: str,
        port: int,
        *,
        gate: Gate | None = None,
        peers: PeerPolicy | None = None,
        header_timeout: float = 5.0,
        max_sessions: int = 2000,
        max_per_peer: int | None = None,
        max_pending_per_peer: int = 100,
        max_header_lines: int = 200,
    ) -> None:
        self.handler_for = handler_for
        self.gate = gate
        self.peers = peers or PeerPolicy()
        self.host = host
        self._port = port
        self.header_timeout = header_timeout  # the header and the gate's admission, together
        self.max_sessions = max_sessions
        self.max_per_peer = max_per_peer or max_sessions
        self.max_pending_per_peer = max_pending_per_peer
        self.max_header_lines = max_header_lines
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_peer: Counter[str] = Counter()
        self._pending: dict[str, dict[asyncio.Task[None], asyncio.StreamWriter]] = {}
        self.served = 0  # connections that reached a handler
        self.rejected = 0  # connections closed before a handler (bad header, no flow, too many, refused)
        self.refused = 0  # of those: not an allowed peer, or not admitted by the gate

    @classmethod
    def for_settings(cls, settings: AgiSettings, handler_for: HandlerLookup, gate: Gate, *, host: str | None = None,
                     port: int | None = None) -> FastAgiServer:  # fmt: skip
        """The server as the daemon and `dialer agi serve` run it (DIALER_AGI_*); ConfigError names
        the setting."""
        try:
            peers = PeerPolicy.parse(settings.peers)
        except ValueError as exc:
            raise ConfigError(f"environment variable {exc}") from None
        if settings.max_per_peer < 1:
            raise ConfigError(f"environment variable DIALER_AGI_MAX_PER_PEER: {settings.max_per_peer} is not >= 1")
        return cls(handler_for, host or settings.host, settings.port if port is None else port, gate=gate,
                   peers=peers, max_per_peer=settings.max_per_peer)  # fmt: skip

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
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        if not self.peers.allows(host):
            self.rejected += 1
            self.refused += 1
            log.warning("FastAGI: refused a connection from %s: not an Asterisk peer (allowed: %s)", host,
                        self.peers.describe())  # fmt: skip
            await _close(writer)
            return
        self._tasks.add(task)
        self._per_peer[host] += 1
        metrics.FASTAGI_SESSIONS.inc()
        try:
            await self._session(reader, writer, host, task)
        finally:
            self._tasks.discard(task)
            self._per_peer[host] -= 1
            if not self._per_peer[host]:
                del self._per_peer[host]
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                       task: asyncio.Task[None]) -> None:  # fmt: skip
        if len(self._tasks) > self.max_sessions or self._per_peer[host] > self.max_per_peer:
            self.rejected += 1
            log.warning("FastAGI: %d sessions open, %d from %s (max %d, %d per peer): closing", len(self._tasks) - 1,
                        self._per_peer[host] - 1, host, self.max_sessions, self.max_per_peer)  # fmt: skip
            return
        channel = await self._admitted(reader, writer, host, task)
        if channel is None:
            return
        try:
            handler = self.handler_for(channel.script)
        except Exception:
            log.exception("FastAGI: looking up the flow %r failed", channel.script)
            handler = None
        if handler is None:
            self.rejected += 1
            log.warning("FastAGI: no flow named %r (channel %s): closing", script_of(channel.env), channel.channel_name)
            try:
                await channel.verbose(f"dialer: no flow named {channel.script}", 1)
            except AgiError:
                pass
            return
        self.served += 1
        await self._run(handler, channel)

    async def _admitted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                        task: asyncio.Task[None]) -> AgiChannel | None:  # fmt: skip
        """The header read and the session admitted, within header_timeout; None: closed."""
        pending = self._pending.setdefault(host, {})
        pending[task] = writer
        if len(pending) > self.max_pending_per_peer:  # a slow client holds the oldest: drop it
            oldest = next(iter(pending))
            pending.pop(oldest).transport.abort()
            log.warning("FastAGI: %s has %d sessions not yet admitted: dropped the oldest", host, len(pending))
        deadline = asyncio.get_running_loop().time() + self.header_timeout
        env: dict[str, str] = {}
        try:
            env = await read_env(reader, timeout=self.header_timeout, max_lines=self.max_header_lines)
            channel = AgiChannel(env, reader, writer)
            if self.gate is not None:
                async with asyncio.timeout_at(deadline):
                    await self.gate.admit(channel)
            return channel
        except Refused as exc:
            self.refused += 1
            why = f"refused: {exc}"
        except TimeoutError:
            self.refused += 1
            why = f"refused: not admitted within {self.header_timeout:g} s"
        except AgiError as exc:
            why = f"no usable header: {exc}" if not env else f"closed before it was admitted: {exc}"
        except Exception as exc:  # noqa: BLE001 - SQL trouble in the gate: refuse, keep serving
            self.refused += 1
            why = f"refused: the gate failed ({type(exc).__name__}: {exc})"
        finally:
            if pending.pop(task, None) is not None and not pending:
                del self._pending[host]
        self.rejected += 1
        log.warning("FastAGI: session from %s (channel %s) %s", host, env.get("agi_channel", "?")[:80], why)
        return None

    async def _run(self, handler: Handler, channel: AgiChannel) -> None:
        try:
            await handler(channel)
        except Refused as exc:  # a handler that is its own gate (no gate in front of it)
            self.refused += 1
            log.warning("FastAGI %s: session refused (channel %s): %s", channel.script, channel.channel_name[:80], exc)
        except AgiHangup as exc:
            log.debug("FastAGI %s: hung up (%s)", channel.script, exc)
        except asyncio.CancelledError:
            log.warning("FastAGI %s: session cancelled (attempt %s)", channel.script, channel.uniqueid)
            raise
        except Exception:
            attempt = await attempt_of(channel)
            log.exception("FastAGI %s: flow failed (attempt %s, channel %s)", channel.script, attempt, channel.channel_name)


async def attempt_of(channel: AgiChannel) -> str:
    """The attempt id for a log line: the admitted one, DIALER_ATTEMPT, an agi_arg ``attempt=``, uniqueid."""
    if channel.attempt_id:
        return channel.attempt_id
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
