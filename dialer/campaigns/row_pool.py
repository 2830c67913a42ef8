"""An import's rows checked in worker processes while the importer writes the previous ones.

The importer cuts the file into texts of whole records (csv_files.Records); each worker reads
its text's cells and checks its rows (row_checks.check_text), so only text goes out and plain
tuples come back. Texts go to the workers in file order and come back in file order, at most two
per worker in flight, so memory stays flat. The workers are forked from this process (they run
only dialer.campaigns.row_checks and never touch its connections): a fork server or spawn would
re-import the importing program's __main__ (the whole CLI) in every worker. With no workers the
rows are checked in this process.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any

from dialer.campaigns.row_checks import Row, RowSpec, check_text

TASK_TIMEOUT_S = 300.0
Checked = tuple[int, list[Row]]  # rows that were not blank, and each one checked


class RowPool:
    def __init__(self, spec: RowSpec, params: dict[str, Any], workers: int) -> None:
        self.spec = spec
        self.params = params
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

    def checked(self, texts: Iterable[tuple[int, str]]) -> Iterator[Checked]:
        """Each text's rows checked, in the order the texts came."""
        if self._pool is None:
            for first, text in texts:
                yield check_text(self.spec, self.params, first, text)
            return
        window: deque[Future[Checked]] = deque()
        for first, text in texts:
            window.append(self._pool.submit(check_text, self.spec, self.params, first, text))
            if len(window) >= 2 * self.workers:
                yield window.popleft().result(TASK_TIMEOUT_S)
        while window:
            yield window.popleft().result(TASK_TIMEOUT_S)
