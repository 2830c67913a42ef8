"""Audio just in time: a campaign's shared prompts are rendered when it starts, a contact's
personal audio when it is claimed (before its Originate), in one pool of long-lived render
workers (prompts.render_pool); files of settled contacts are removed and the rest kept under a
size budget (prompts.ledger). Also how long calls waited for their audio before the Originate."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prompts.ledger import DEFAULT_BUDGET_BYTES, AudioLedger
from prompts.render_pool import RenderPool, TtsSettings, cached_paths

log = logging.getLogger(__name__)

POOL_START_TIMEOUT_S = 90.0
AHEAD_PER_WORKER = 8  # contacts being prepared per worker before claims wait: calls wait less
ROOM_WAIT_S = 5.0  # a claim waits this long at most for the pool to catch up
WAITS_KEPT = 200_000  # the most recent waits for audio, for figures


class AudioNotReady(Exception):
    """A contact's personal audio could not be prepared in time (or at all)."""


@dataclass
class Preparation:
    """One contact's personal audio on its way (started at the claim)."""

    contact_id: int
    root: Path
    tts: TtsSettings
    texts: list[str]
    job: asyncio.Future[list[tuple[str, int]]]


class JitAudio:
    """The preparation pool, the ledger of personal files, and the waits for audio."""

    def __init__(self, workers: int | None = None, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.workers = workers
        self.ledger = AudioLedger(budget_bytes)
        self.pool: RenderPool | None = None
        self._starting = asyncio.Lock()
        self.waits: deque[float] = deque(maxlen=WAITS_KEPT)  # seconds each call waited for its audio
        self.prepared = 0  # contacts whose audio was prepared (rendered or found)
        self.in_flight = 0  # preparations started and not finished
        self._caught_up = asyncio.Event()

    async def start(self) -> None:
        """Start the workers now (the daemon's start), so that a campaign's start finds them up."""
        try:
            await self._pool()
        except Exception as exc:  # noqa: BLE001 - a campaign start tries again (and pauses if it fails)
            log.warning("audio preparation workers did not start: %s", exc)

    async def _pool(self) -> RenderPool:
        async with self._starting:
            if self.pool is None:
                self.pool = await asyncio.wait_for(asyncio.to_thread(RenderPool, self.workers), POOL_START_TIMEOUT_S)
                log.info("audio preparation: %d workers started", self.pool.workers)
        return self.pool

    async def render_shared(self, root: Path, tts: TtsSettings, texts: list[str], timeout_s: float) -> int:
        """Render (or find) the shared prompts in the pool; they are never removed. How many texts."""
        found, texts = await asyncio.wait_for(asyncio.to_thread(cached_paths, root, tts, texts), timeout_s)
        self.ledger.protect(path for path, _size in found)
        if not texts:  # all in the cache already: no need to wait for the workers
            return len(found)
        pool = await self._pool()
        chunks = [texts[i : i + 48] for i in range(0, len(texts), 48)]
        futures = [asyncio.wrap_future(pool.submit(root, tts, chunk)) for chunk in chunks]
        done = await asyncio.wait_for(asyncio.gather(*futures), timeout_s)
        self.ledger.protect(path for files in done for path, _size in files)
        return len(found) + len(texts)

    def prepare(self, contact_id: int, root: Path, tts: TtsSettings, texts: list[str]) -> Preparation:
        """Start preparing one contact's personal audio now; its call awaits it (ready())."""
        job = asyncio.ensure_future(self._render(root, tts, texts))
        self.in_flight += 1
        job.add_done_callback(self._finished)
        return Preparation(contact_id, root, tts, texts, job)

    def _finished(self, _job: asyncio.Future[list[tuple[str, int]]]) -> None:
        self.in_flight -= 1
        if self.in_flight < self.ahead:
            self._caught_up.set()

    @property
    def ahead(self) -> int:
        return AHEAD_PER_WORKER * (self.pool.workers if self.pool is not None else 1)

    async def room(self) -> None:
        """Before a claim: wait (up to ROOM_WAIT_S) while the pool has enough work queued, so
        that contacts are claimed about as fast as their audio is prepared: claimed calls wait
        for their audio a moment, not behind a growing queue while holding their slots."""
        while self.in_flight >= self.ahead:
            self._caught_up.clear()
            try:
                await asyncio.wait_for(self._caught_up.wait(), ROOM_WAIT_S)
            except asyncio.TimeoutError:
                return

    async def _render(self, root: Path, tts: TtsSettings, texts: list[str]) -> list[tuple[str, int]]:
        found, missing = await asyncio.to_thread(cached_paths, root, tts, texts)
        if not missing:  # rendered upfront (`prompts render`) or for another contact
            return found
        pool = await self._pool()
        return found + await asyncio.wrap_future(pool.submit(root, tts, missing))

    async def ready(self, prep: Preparation, timeout_s: float) -> float:
        """Wait for a contact's audio and hold its files until release(); the wait in seconds."""
        began = time.monotonic()
        try:
            files = await asyncio.wait_for(prep.job, timeout_s)
            if not all(os.path.exists(path) for path, _size in files):  # a sweep removed one meanwhile
                files = await asyncio.wait_for(self._render(prep.root, prep.tts, prep.texts), timeout_s)
        except asyncio.TimeoutError:
            raise AudioNotReady(f"its audio was not ready within {timeout_s:g} s") from None
        except Exception as exc:  # a TtsError naming the text, or a worker that died
            raise AudioNotReady(f"its audio could not be prepared: {exc}") from exc
        self.ledger.hold(prep.contact_id, files)
        self.prepared += 1
        waited = time.monotonic() - began
        self.waits.append(waited)
        return waited

    def release(self, contact_id: int) -> list[str]:
        return self.ledger.release(contact_id)

    def remove(self, paths: Iterable[str]) -> int:
        return self.ledger.remove(paths)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

