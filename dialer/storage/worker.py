"""SQL off the event loop: a bounded pool of the dialer's own threads, and a deadline per job.

asyncio.to_thread uses the loop's default executor, which DNS look-ups and every other
to_thread share; SQL stuck on a dead link would pin its few threads. Each SqlWorker has its
own threads (the engine's claims, the recorder's endings and the IVR's look-ups each get one),
so one stuck part does not starve the others. A job whose deadline passes while it still waits
for a thread is cancelled and never runs; one already running goes on in its thread (the
database's statement timeout ends it) and SqlTimeout carries its future, so the caller can tell
when it is over and undo what it committed (dialer.storage.claims: claim tokens).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from dialer.runtime import metrics

log = logging.getLogger(__name__)

SQL_TIMEOUT_S = 10.0
T = TypeVar("T")


class SqlTimeout(TimeoutError):
    """No answer from SQL in time. `job` is the work itself: still running, or cancelled if it never
    started."""

    def __init__(self, message: str, job: Future[Any]) -> None:
        super().__init__(message)
        self.job = job


class SqlWorker:
    def __init__(self, name: str, threads: int = 4, timeout_s: float = SQL_TIMEOUT_S) -> None:
        self.name = name
        self.threads = threads
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Queue one job; await it with wait()."""
        return self._pool.submit(functools.partial(fn, *args, **kwargs))

    async def wait(self, job: Future[T], timeout_s: float | None = None, what: str = "SQL") -> T:
        """The job's result; SqlTimeout after `timeout_s`. A job still queued then (or when the
        caller is cancelled) is cancelled and never runs."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(job), limit)
        except TimeoutError:
            metrics.timed_sql(self.name, started, timed_out=True)
            state = "still running" if job.running() else "never started"
            raise SqlTimeout(f"{what}: no answer from SQL within {limit:g} s ({state})", job) from None
        metrics.timed_sql(self.name, started)
        return result

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None, **kwargs: Any) -> T:
        return await self.wait(self.submit(fn, *args, **kwargs), timeout_s, getattr(fn, "__name__", "SQL"))

    def close(self) -> None:
        """Drop queued jobs; running ones finish in their threads (never joined here)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
