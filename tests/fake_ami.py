"""A scripted AMI peer on loopback, for fault injection in fast unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

Reply = list[dict[str, str]] | str  # messages to send, or "close" / "silent"


def render(fields: dict[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


@dataclass
class FakeAmi:
    secret: str = "s3cret"
    fully_booted: bool = True
    script: dict[str, Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    received: list[dict[str, str]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # every action as sent (repeated headers kept)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> FakeAmi:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for w in self.writers:
            w.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action", "").lower() == name.lower()]

    async def send_event(self, fields: dict[str, str]) -> None:
        for w in self.writers:
            if not w.is_closing():
                w.write(render(fields))
                await w.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                self.raw.append(raw.decode())
                action = dict(
                    line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line
                )
                self.received.append(action)
                reply = self._reply(action)
                if reply == "close":
                    writer.close()
                    return
                if reply == "silent":
                    continue
                for msg in reply:  # "__event__" marks an unsolicited event (no ActionID)
                    if msg.pop("__event__", None):
                        writer.write(render(msg))
                    else:
                        writer.write(render({**msg, "ActionID": action.get("ActionID", "")}))
                await writer.drain()
                if action.get("Action") == "Login" and reply[0]["Response"] == "Success" and self.fully_booted:
                    writer.write(render({"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}))
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def _reply(self, action: dict[str, str]) -> Reply:
        name = action.get("Action", "")
        if name in self.script:
            return self.script[name](action)
        if name == "Login":
            if action.get("Secret") == self.secret:
                return [{"Response": "Success", "Message": "Authentication accepted"}]
            return [{"Response": "Error", "Message": "Authentication failed"}]
        if name == "Ping":
            return [{"Response": "Success", "Ping": "Pong"}]
        return [{"Response": "Error", "Message": "Invalid/unknown command"}]
