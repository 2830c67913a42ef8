"""Stopping background tasks for sure. Python 3.11's asyncio.wait_for returns the result instead
of raising when a cancel arrives just as the awaited thing completes (the cancel is lost), so a
loop built on wait_for(to_thread(...)) may survive one cancel(): cancel again until it is done."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], timeout_s: float = 10.0) -> None:
    """Cancel the tasks, again every 0.1 s while any is still running, for up to `timeout_s`."""
    pending = [t for t in tasks if not t.done()]
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
        pending = [t for t in pending if not t.done()]
    for task in pending:
        log.error("task %s did not stop within %.0f s", task.get_name(), timeout_s)
