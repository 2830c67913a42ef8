"""A real MQTT broker for the tests (Debian's mosquitto) and a subscriber that records what it gets.

The broker listens on a free port of 127.0.0.1 and keeps its state in a temporary directory
(persistence on: a subscriber's session and its queued messages survive a stop and start, so
no test races a reconnecting subscriber). It is stopped by its process id.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {directory}/\nautosave_interval 0\n"
            "user root\nmax_queued_messages 100000\nmax_inflight_messages 0\nset_tcp_nodelay true\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}; see {self.directory}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM by pid (mosquitto saves its sessions), SIGKILL after 5 s."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@dataclass
class Received:
    topic: str
    payload: dict[str, Any]
    retain: bool

    @property
    def kind(self) -> str:
        return self.topic.rsplit("/", 1)[1]


class Subscriber:
    """Subscribes (QoS 1, persistent session) and records every message; reconnects by itself."""

    def __init__(
        self, port: int, topic: str = "#", client_id: str = "test-subscriber", clean: bool = False
    ) -> None:
        self.port, self.topic, self.client_id, self.clean = port, topic, client_id, clean
        self.messages: list[Received] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.client_id,
                                          clean_session=self.clean, timeout=5) as client:  # fmt: skip
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for m in client.messages:
                        assert isinstance(m.payload, bytes)
                        self.messages.append(Received(m.topic.value, json.loads(m.payload), m.retain))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def seqs(self) -> set[int]:
        return {m.payload["seq"] for m in self.messages}

    async def wait_for_seqs(self, count: int, timeout: float = 20.0) -> None:
        """Until `count` distinct events arrived."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.seqs()) < count:
            if asyncio.get_running_loop().time() > deadline:
                got = len(self.seqs())
                raise AssertionError(f"{got} distinct events arrived in {timeout} s, expected {count}")
            await asyncio.sleep(0.05)
