"""A fake Asterisk for AGI tests: sends the header, then reads commands and replies as told."""

from __future__ import annotations

import asyncio

TIMEOUT = 5.0


def header(script: str = "echo-test", port: int = 4573, **extra: str) -> bytes:
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": "Local/s@sim-test-agi-caller-00000001;1",
        "agi_language": "en",
        "agi_uniqueid": "uid-1",
        "agi_context": "sim-test-agi",
        **extra,
    }
    return "".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n"


class FakeAsterisk:
    """One AGI peer over any reader/writer pair (a TCP connection or a child's pipes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | asyncio.WriteTransport) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[str] = []

    @classmethod
    async def connect(cls, port: int, source: str | None = None) -> FakeAsterisk:
        """Connect to 127.0.0.1:port, from the loopback address `source` when given (127.0.0.2, ...)."""
        local = (source, 0) if source else None
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=local), TIMEOUT)
        return cls(reader, writer)

    def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)

    async def command(self) -> str:
        """The next command line the AGI side sent ("" at EOF)."""
        line = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
        text = line.decode().rstrip("\n")
        if text:
            self.received.append(text)
        return text

    async def expect(self, line: str, *replies: str) -> None:
        got = await self.command()
        assert got == line, f"expected {line!r}, got {got!r}"
        for reply in replies:
            self.send(reply + "\n")

    async def rest(self) -> bytes:
        """Everything the AGI side sends until it closes its end."""
        return await asyncio.wait_for(self.reader.read(), TIMEOUT)

    def close(self) -> None:
        self.writer.close()
