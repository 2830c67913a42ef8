"""An import's rows checked in worker processes while the importer writes the previous ones.

Chunks go to the workers in file order and come back in file order, at most two chunks per
worker in flight, so memory stays flat. The workers are forked from this process (they run only
dialer.campaigns.row_checks and never touch its connections): a fork server or spawn would
re-import the importing program's __main__ (the whole CLI) in every worker. With no workers the rows are checked in this process.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from dialer.campaigns.row_checks import Checked, RowSpec, check_rows

TASK_TIMEOUT_S = 300.0
Rows = list[tuple[int, list[str]]]


class RowPool:
    def __init__(self, spec: RowSpec, workers: int) -> None:
        self.spec = spec
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> RowPool:
        if self.workers > 0:
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def checked(self, chunks: Iterable[Rows]) -> Iterator[list[Checked]]:
        """Each chunk's rows checked, in the order the chunks came."""
        if self._pool is None:
            for chunk in chunks:
                yield check_rows(self.spec, chunk)
            return
        window: deque[Future[list[Checked]]] = deque()
        for chunk in chunks:
            window.append(self._pool.submit(check_rows, self.spec, chunk))
            if len(window) >= 2 * self.workers:
                yield window.popleft().result(TASK_TIMEOUT_S)
        while window:
            yield window.popleft().result(TASK_TIMEOUT_S)
