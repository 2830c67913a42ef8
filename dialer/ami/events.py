"""Event subscriptions: each subscriber reads AMI events from its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

Event = Any  # a panoramisk Message: a case-insensitive mapping of the event's headers


class EventStream:
    """Events in arrival order, optionally only the names asked for."""

    def __init__(
        self, names: Iterable[str] | None, maxsize: int, on_close: Callable[[EventStream], None]
    ) -> None:
        self._names = {n.lower() for n in names} if names is not None else None
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._on_close = on_close
        self._closed = False
        self.dropped = 0

    def offer(self, name: str, event: Event) -> None:
        if self._names is not None and name.lower() not in self._names:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("event subscriber is not keeping up; dropping events")

    async def get(self, timeout: float) -> Event:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event:
        """The first event (from now on, in order) that satisfies predicate; TimeoutError if none."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError
            event = await self.get(remaining)
            if predicate(event):
                return event

    def drain(self) -> list[Event]:
        """Every event queued so far, without waiting."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close(self)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
