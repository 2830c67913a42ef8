"""This dialer host as a node among several: it heartbeats its row (host, Asterisk, version, live
calls), and resolves the live attempts of nodes that stopped heartbeating (storage.nodes): by
age, or at once for the calls their own Asterisk answers it no longer has (CoreShowChannels over
that Asterisk's AMI, with this node's AMI user and secret, when they work there; never a loopback
address of another machine: that would be this machine's own Asterisk).

A node is silent by what this node itself watched (Silence): its heartbeat unchanged over
`node_dead_after_s` of this node's own reads, on this node's monotonic clock. An outage of the
shared database, during which no node could beat, starts every count again, so no live node is
taken for dead when it comes back (its calls' endings are still in its journal then)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from importlib import metadata

from dialer.ami import AmiClient, AmiError
from dialer.config import AmiSettings, EngineSettings
from dialer.storage.nodes import DeadNode
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlWorker

log = logging.getLogger(__name__)

PEER_AMI_TIMEOUT_S = 5.0


def version() -> str:
    try:
        return metadata.version("asterisk-ivr-dialer")
    except metadata.PackageNotFoundError:
        return "unknown"


class Silence:
    """Which other nodes this node has watched stay silent for `after_s`: their heartbeat stamp (their
    own clock's) unchanged over `after_s` of this node's reads (its monotonic clock). A read this node
    could not make, or a gap longer than `after_s` from the end of one round to the next read (this
    node's loop or SQL stalled), starts every count again."""

    def __init__(self, after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.after_s, self.clock = after_s, clock
        self.seen: dict[str, tuple[datetime, float]] = {}  # node -> (its heartbeat stamp, watched since)
        self.last_read: float | None = None

    def forget(self) -> None:
        self.seen.clear()
        self.last_read = None

    def round_over(self) -> None:
        """The round that read (and resolved what it found silent) is over: the next gap counts from here."""
        if self.last_read is not None:
            self.last_read = self.clock()

    def silent(self, peers: list[DeadNode]) -> list[DeadNode]:
        """Of these peers (other nodes with live attempts, as just read), those silent long enough."""
        now = self.clock()
        if self.last_read is not None and now - self.last_read > self.after_s:
            self.seen.clear()  # this node was not watching meanwhile (its loop or SQL stalled)
        self.last_read = now
        seen, out = {}, []
        for peer in peers:
            stamp, since = self.seen.get(peer.name, (peer.heartbeat_at, now))
            if stamp != peer.heartbeat_at:
                since = now  # it beat: alive
            seen[peer.name] = (peer.heartbeat_at, since)
            if now - since >= self.after_s:
                out.append(peer)
        self.seen = seen
        return out


class NodeKeeper:
    def __init__(self, repo: Repository, ami: AmiSettings, settings: EngineSettings, sql: SqlWorker,
                 live_calls: Callable[[], int]) -> None:  # fmt: skip
        self.repo, self.ami, self.settings, self.sql = repo, ami, settings, sql
        self.live_calls = live_calls
        self.asterisk = f"{ami.host}:{ami.port}"
        self.silence = Silence(settings.node_dead_after_s)

    async def beat(self, started: bool = False) -> None:
        await self.sql.run(self.repo.heartbeat, socket.gethostname(), self.asterisk, version(), self.live_calls(),
                           started, timeout_s=self.settings.sql_timeout_s)  # fmt: skip

    async def run(self) -> None:
        """Heartbeat and watch the other nodes until cancelled, in two loops: a slow check of a silent
        node's Asterisk never holds this node's own heartbeat back. SQL trouble is logged and retried."""
        await asyncio.gather(self._beating(), self._watching())

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self.beat()
            except Exception as exc:  # noqa: BLE001 - SQL trouble: nobody can beat; watch anew after it
                self.silence.forget()
                log.warning("node heartbeat failed (%s); retrying", exc)

    async def _watching(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                peers = await self.sql.run(self.repo.peers_with_live_attempts, timeout_s=self.settings.sql_timeout_s)
            except Exception as exc:  # noqa: BLE001 - SQL trouble: the counts start again after it
                self.silence.forget()
                log.warning("reading the other nodes failed (%s); retrying", exc)
                continue
            for dead in self.silence.silent(peers):
                try:
                    gone = await self._gone_from_its_asterisk(dead)
                    await self.sql.run(self.repo.resolve_dead, dead, self.settings.max_call_s, gone,
                                       timeout_s=self.settings.sql_timeout_s)  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - SQL or AMI trouble: next round tries again
                    log.warning("resolving silent node %s failed (%s); retrying", dead.name, exc)
            self.silence.round_over()  # a slow peer Asterisk is not a gap in this node's watching

    async def stopped(self) -> None:
        try:
            await self.sql.run(self.repo.node_stopped, timeout_s=self.settings.sql_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the heartbeat just stops: others see it as silent
            log.warning("could not mark node %s stopped (%s)", self.repo.node, exc)

    async def _gone_from_its_asterisk(self, dead: DeadNode) -> set[str]:
        """The dead node's live attempts its Asterisk no longer has; empty if it cannot be asked."""
        host, _, port = dead.asterisk.rpartition(":")
        if not host or not port.isdigit():
            return set()
        if _loopback(host) and dead.host != socket.gethostname():  # that would be our own Asterisk
            log.warning("node %s is silent and its Asterisk's address %s is a loopback one on host %s: "
                        "resolving by age only (give each node a DIALER_AMI_HOST the others reach)",
                        dead.name, dead.asterisk, dead.host)  # fmt: skip
            return set()
        settings = replace(self.ami, host=host, port=int(port), connect_timeout=PEER_AMI_TIMEOUT_S,
                           action_timeout=PEER_AMI_TIMEOUT_S)  # fmt: skip
        client = AmiClient(settings, events="off")
        try:
            await asyncio.wait_for(client.connect(), PEER_AMI_TIMEOUT_S * 2)
            channels = await client.action_list({"Action": "CoreShowChannels"}, timeout=PEER_AMI_TIMEOUT_S)
        except (AmiError, OSError, asyncio.TimeoutError) as exc:
            log.info("node %s is silent and its Asterisk %s cannot be asked (%s): resolving by age only",
                     dead.name, dead.asterisk, exc)  # fmt: skip
            return set()
        finally:
            client.close()
        up = {str(c.get("Uniqueid")) for c in channels}
        return set(dead.live) - up


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
