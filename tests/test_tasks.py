"""dialer.runtime.tasks.stop_tasks: a loop that loses a cancel (as wait_for can in 3.11) still stops."""

from __future__ import annotations

import asyncio

from dialer.runtime.tasks import stop_tasks


async def test_a_loop_that_swallows_a_cancel_is_cancelled_again_and_stops() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 1:
                    continue  # the first cancel is lost, as in wait_for's race
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(stop_tasks([task], timeout_s=5), 6)
    assert task.cancelled() and swallowed == 2
    one_cancel = asyncio.create_task(stubborn())  # what a single cancel() and gather would do
    swallowed = 0
    await asyncio.sleep(0.01)
    one_cancel.cancel()
    done, _ = await asyncio.wait([one_cancel], timeout=0.3)
    assert not done  # still running: the reason for stop_tasks
    await stop_tasks([one_cancel])
