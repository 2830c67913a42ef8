"""The one place that writes how attempts ended: batched transactions, one per burst of calls.

Callers await their own ending's commit, so a contact's slot is freed only once SQL says so.
Later, the MQTT publisher hangs off the same place.
"""

from __future__ import annotations

import asyncio
import logging

from dialer.storage.endings import Ending
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlWorker

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, repo: Repository, sql_timeout_s: float = 10.0, max_batch: int = 200,
                 sql: SqlWorker | None = None) -> None:  # fmt: skip
        self.repo = repo
        self.sql = sql or SqlWorker("dialer-endings", 1, sql_timeout_s)  # one writer: one thread of its own
        self.sql_timeout_s = sql_timeout_s
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Ending, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recorder")

    async def stop(self) -> None:
        """Write what is queued (and the batch being written), then stop."""
        while not self._queue.empty() or self._busy:
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
            self._busy = True
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                self._busy = False

    async def _write(self, batch: list[tuple[Ending, asyncio.Future[None]]]) -> None:
        try:
            await self._finish([e for e, _ in batch])
        except Exception as exc:  # noqa: BLE001 - one bad ending must not sink the others
            if len(batch) == 1:
                log.error("recording the end of attempt %s failed: %s", batch[0][0].attempt_id, exc)
                _settle(batch[0][1], exc)
                return
            log.warning("recording %d endings together failed (%s); writing them one by one", len(batch), exc)
            for item in batch:
                await self._write([item])
            return
        for _, future in batch:
            _settle(future, None)

    async def _finish(self, endings: list[Ending]) -> None:
        await self.sql.run(self.repo.finish_many, endings, timeout_s=self.sql_timeout_s)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
