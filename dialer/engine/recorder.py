"""The one place that writes how attempts ended: batched transactions, one per burst of calls.

An ending is never dropped. When SQL refuses a batch because it is unavailable (SQLite locked
by another writer, a PostgreSQL failover), its endings go to the local journal at once
(dialer.engine.journal) and are retried with backoff for `retry_s`; then the caller is told
they are safe and the periodic replay (and the next start) writes them once SQL is back. An
ending SQL refuses for any other reason is tried on its own, so it cannot sink the others.

Callers await their own ending: written to SQL, or safe in the journal. Later, the MQTT
publisher hangs off the same place.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass

from dialer.engine.journal import Journal, JournalError
from dialer.runtime.tasks import stop_tasks
from dialer.storage.endings import Ending
from dialer.storage.errors import unavailable
from dialer.storage.repository import Repository
from dialer.storage.worker import SqlWorker

log = logging.getLogger(__name__)

BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.25, 4.0


@dataclass
class _Item:
    ending: Ending
    future: asyncio.Future[None] | None  # None: offered again from the journal (nobody waits)
    give_up_at: float  # loop time after which it is left to the replay
    journaled: bool = False
    error: BaseException | None = None


class Recorder:
    def __init__(self, repo: Repository, sql_timeout_s: float = 10.0, max_batch: int = 200, *,
                 sql: SqlWorker | None = None,
                 journal: Journal | None = None, retry_s: float = 10.0, replay_every_s: float = 5.0) -> None:  # fmt: skip
        self.repo = repo
        self.sql_timeout_s = sql_timeout_s
        self.max_batch = max_batch
        self.journal = journal
        self.sql = sql or SqlWorker("dialer-endings", 1, sql_timeout_s)  # one writer: one thread of its own
        self.retry_s = retry_s
        self.replay_every_s = replay_every_s
        self.journaled = 0  # endings written to the journal by this run
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._items: list[_Item] = []  # the batch being written (or retried)
        self._held: Counter[str] = Counter()  # attempt ids queued or being written
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start writing; endings an earlier run journaled are offered to SQL first."""
        if self._tasks:
            return
        if self.journal is not None:
            try:
                for ending in self.journal.open():
                    self._put(_Item(ending, None, 0.0, journaled=True))
            except JournalError as exc:
                log.error("%s", exc)
        self._tasks = [asyncio.create_task(self._run(), name="recorder")]
        if self.journal is not None:
            self._tasks.append(asyncio.create_task(self._replay_loop(), name="recorder-replay"))

    async def stop(self) -> None:
        """Write what is queued (each within its retry time; the rest stays journaled), then stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s + 2 * self.sql_timeout_s + 5
        writing = self._tasks[0] if self._tasks else None
        while (not self._queue.empty() or self._items) and writing is not None and not writing.done():
            if loop.time() > deadline:
                log.error("recorder stopped with %d endings unwritten", self._queue.qsize() + len(self._items))
                break
            await asyncio.sleep(0.01)
        await stop_tasks(self._tasks)  # (dialer.runtime.tasks: a cancel may be lost once)
        self._tasks = []

    def holds(self, attempt_id: str) -> bool:
        """True while this attempt's ending is queued, being written, or journaled and not yet in SQL."""
        return self._held[attempt_id] > 0 or (self.journal is not None and attempt_id in self.journal.pending)

    async def record(self, ending: Ending) -> None:
        """Returns once the ending is in SQL or safe in the journal; raises if it is neither."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._put(_Item(ending, future, asyncio.get_running_loop().time() + self.retry_s))
        await asyncio.wait_for(future, self.retry_s + 2 * self.sql_timeout_s + 5)

    async def replay(self) -> int:
        """Offer every journaled ending not already on its way to SQL again; returns how many."""
        if self.journal is None or not self.journal.pending:
            return 0
        try:
            endings = await asyncio.wait_for(asyncio.to_thread(self.journal.read), self.sql_timeout_s)
        except (JournalError, asyncio.TimeoutError) as exc:
            log.error("replaying the journal failed: %s", exc)
            return 0
        offered = 0
        for ending in endings:
            if ending.attempt_id in self.journal.pending and not self._held[ending.attempt_id]:
                self._put(_Item(ending, None, 0.0, journaled=True))
                offered += 1
        if offered:
            log.info("journal: offering %d endings to SQL again", offered)
        return offered

    def _put(self, item: _Item) -> None:
        self._held[item.ending.attempt_id] += 1
        self._queue.put_nowait(item)

    async def _replay_loop(self) -> None:
        while True:
            await asyncio.sleep(self.replay_every_s)
            await self.replay()

    async def _run(self) -> None:
        delay = BACKOFF_FIRST_S
        while True:
            if not self._items:
                self._items.append(await self._queue.get())
            while len(self._items) < self.max_batch and not self._queue.empty():
                self._items.append(self._queue.get_nowait())
            failed = await self._write(self._items)
            if failed:
                await self._journal(failed)
            now = asyncio.get_running_loop().time()
            self._items = [item for item in failed if item.give_up_at > now]
            for item in failed:
                if item.give_up_at <= now:
                    self._leave(item)
            if self._items:
                log.debug("retrying %d endings in %.2f s", len(self._items), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            else:
                delay = BACKOFF_FIRST_S

    async def _write(self, items: list[_Item]) -> list[_Item]:
        """Write the batch; returns the items SQL refused (each with its error)."""
        try:
            await self.sql.run(self.repo.finish_many, [i.ending for i in items], timeout_s=self.sql_timeout_s)
        except Exception as exc:  # noqa: BLE001 - SQL refused: retried, journaled, never dropped
            if unavailable(exc) or len(items) == 1:
                if not any(i.error for i in items):
                    log.warning("SQL refused %d endings (%s); journaling them and retrying", len(items), exc)
                for item in items:
                    item.error = exc
                return items
            log.warning("recording %d endings together failed (%s); writing them one by one", len(items), exc)
            failed: list[_Item] = []
            for item in items:
                failed += await self._write([item])
            return failed
        written = [i.ending.attempt_id for i in items if i.journaled]
        if written and self.journal is not None:
            self.journal.done(written)
        for item in items:
            self._settle(item, None)
        return []

    async def _journal(self, items: list[_Item]) -> None:
        fresh = [i for i in items if not i.journaled]
        if not fresh or self.journal is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self.journal.append, [i.ending for i in fresh]),
                                   self.sql_timeout_s)  # fmt: skip
        except (JournalError, asyncio.TimeoutError) as exc:
            log.error("could not journal %d endings: %s", len(fresh), exc)
            return
        self.journaled += len(fresh)
        for item in fresh:
            item.journaled = True
        log.warning("journaled %d endings SQL refused (%s)", len(fresh), self.journal.path)

    def _leave(self, item: _Item) -> None:
        """Out of retry time: journaled, it waits for the replay; not journaled, it is lost (said loudly)."""
        if item.journaled:
            if item.future is not None:
                log.warning("attempt %s: ending left in the journal for the replay (%s)", item.ending.attempt_id,
                            item.error)  # fmt: skip
            self._settle(item, None)
        else:
            log.error("attempt %s: ending neither written nor journaled: %s", item.ending.attempt_id, item.error)
            self._settle(item, item.error or RuntimeError("ending not recorded"))

    def _settle(self, item: _Item, error: BaseException | None) -> None:
        self._held[item.ending.attempt_id] -= 1
        if self._held[item.ending.attempt_id] <= 0:
            del self._held[item.ending.attempt_id]
        future = item.future
        if future is None or future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
