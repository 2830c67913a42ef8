"""Several dialer hosts for tests: each a `dialer run` process next to its own sandbox Asterisk
(other ports than the session's), all on one throw-away PostgreSQL; and a watcher that counts
live calls and originates from the Asterisks' own events, not from the dialer's word."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from dialer.ami import AmiClient
from dialer.sandbox.instance import Sandbox

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Host:
    name: str
    sandbox: Sandbox
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, url: str, extra: dict[str, str] | None = None) -> None:
        env = {**os.environ, **self.sandbox.env(), "DIALER_NODE": self.name, "DIALER_DB_URL": url, **(extra or {})}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli", "run", "--drain-timeout", "5"], cwd=ROOT,
                                         env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@dataclass
class Watcher:
    """Outbound legs (Local/...;1) on every Asterisk: how many are up at once, and originates per
    sliding second, over all hosts together."""

    sandboxes: list[Sandbox]
    live: set[str] = field(default_factory=set)
    peak: int = 0
    starts: deque[float] = field(default_factory=deque)
    peak_per_second: int = 0
    started_numbers: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _clients: list[AmiClient] = field(default_factory=list)

    async def __aenter__(self) -> Watcher:
        for sandbox in self.sandboxes:
            client = AmiClient(sandbox.ami)
            await client.connect()
            self._clients.append(client)
            stream = client.events(["Newchannel", "Hangup"])
            self._tasks.append(asyncio.create_task(self._follow(sandbox.ami_port, stream)))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._clients:
            client.close()

    async def _follow(self, port: int, stream: object) -> None:
        while True:
            try:
                event = await stream.get(3600)  # type: ignore[attr-defined]
            except asyncio.TimeoutError:
                continue
            channel = str(event.get("Channel") or "")
            if not (channel.startswith("Local/") and channel.endswith(";1")):
                continue
            key = f"{port}:{event.get('Uniqueid')}"
            if event.get("Event") == "Newchannel":
                self.live.add(key)
                self.peak = max(self.peak, len(self.live))
                self.started_numbers.append(channel.split("/", 1)[1].split("@", 1)[0])
                now = time.monotonic()
                self.starts.append(now)
                while self.starts and now - self.starts[0] >= 1.0:
                    self.starts.popleft()
                self.peak_per_second = max(self.peak_per_second, len(self.starts))
            else:
                self.live.discard(key)
