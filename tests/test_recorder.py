"""The recorder: batches endings, and one bad ending does not sink the rest of its batch."""

from __future__ import annotations

import asyncio

import pytest

from dialer.engine.recorder import Recorder
from dialer.storage.endings import Ending


class FlakyRepo:
    """finish_many fails for any batch holding the attempt 'bad'."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.batches: list[int] = []

    def finish_many(self, endings: list[Ending]) -> None:
        self.batches.append(len(endings))
        if any(e.attempt_id == "bad" for e in endings):
            raise RuntimeError("constraint violated")
        self.written.extend(e.attempt_id for e in endings)


async def test_endings_are_batched_and_a_bad_one_fails_alone() -> None:
    repo = FlakyRepo()
    recorder = Recorder(repo, sql_timeout_s=5)  # type: ignore[arg-type]
    recorder.start()
    results = await asyncio.gather(
        *(recorder.record(Ending(name, "test")) for name in ["a", "b", "bad", "c"]), return_exceptions=True
    )
    await recorder.stop()
    assert results[:2] == [None, None] and results[3] is None
    assert isinstance(results[2], RuntimeError)
    assert sorted(repo.written) == ["a", "b", "c"]
    assert repo.batches[0] == 4  # first tried together


async def test_stop_writes_what_is_queued() -> None:
    repo = FlakyRepo()
    recorder = Recorder(repo, sql_timeout_s=5)  # type: ignore[arg-type]
    recorder.start()
    pending = [asyncio.create_task(recorder.record(Ending(str(i), "test"))) for i in range(50)]
    await asyncio.sleep(0)
    await recorder.stop()
    await asyncio.gather(*pending)
    assert len(repo.written) == 50
    with pytest.raises(asyncio.TimeoutError):  # stopped: nothing is written any more
        await asyncio.wait_for(recorder.record(Ending("late", "test")), 0.2)
