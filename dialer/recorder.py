"""The one place that writes how attempts ended: batched transactions, one per burst of calls.

Callers await their own ending's commit, so a contact's slot is freed only once SQL says so.
Later, the MQTT publisher hangs off the same place.
"""

from __future__ import annotations

import asyncio
import logging

from dialer.storage.repository import Ending, Repository

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, repo: Repository, sql_timeout_s: float = 10.0, max_batch: int = 200) -> None:
        self.repo = repo
        self.sql_timeout_s = sql_timeout_s
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Ending, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recorder")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        while not self._queue.empty():
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def record(self, ending: Ending) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((ending, future))
        await asyncio.wait_for(future, self.sql_timeout_s * 2)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(self.repo.finish_many, [e for e, _ in batch]), self.sql_timeout_s
                )
            except Exception as exc:  # noqa: BLE001 - every waiter hears about it
                log.error("recording %d attempt endings failed: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
