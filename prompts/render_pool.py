"""Renders side by side in long-lived worker processes, each with its own espeak-ng synthesiser.

libespeak-ng is not thread-safe, so renders run in parallel in processes: started once (spawn,
safe beside threads and an event loop), each keeping its segment memory for the whole run.
Workers write straight into the content-addressed cache (atomic renames), run at a lower
priority (nice) so that calls in progress keep the CPU, and report how many texts they rendered.
"""

from __future__ import annotations

import logging
import multiprocessing
import ctypes
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from prompts.cache import PromptCache

log = logging.getLogger(__name__)

CHUNK = 48  # texts per task: a contact's sentences stay together and progress moves often
NICE = 10  # workers yield the CPU to the dialer and Asterisk
START_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1
PARENT_CHECK_S = 1.0  # how often a worker checks that the process that started it is alive
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # one thread per worker: the pool is the parallelism


@dataclass(frozen=True)
class TtsSettings:
    """How a campaign's texts are rendered: language, backend, voice, fallback (a PromptBook's)."""

    lang: str
    backend: str = "espeak-ng"
    voice: str | None = None
    fallback: str | None = None


def render_texts(root: Path, tts: TtsSettings, texts: Sequence[str]) -> int:
    """Render (or find in the cache) each text in this process; how many were rendered."""
    cache = PromptCache(root)
    for text in texts:
        cache.render(text, tts.lang, backend_name=tts.backend, voice=tts.voice, fallback=tts.fallback)
    return cache.renders


def render_paths(root: Path, tts: TtsSettings, texts: Sequence[str]) -> list[tuple[str, int]]:
    """Render (or find in the cache) each text in this process; each file's path and size."""
    cache = PromptCache(root)
    out = []
    for text in texts:
        path = cache.render(text, tts.lang, backend_name=tts.backend, voice=tts.voice, fallback=tts.fallback)
        out.append((str(path), path.stat().st_size))
    return out


def cached_paths(root: Path, tts: TtsSettings, texts: Sequence[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """The texts already in the cache (each file's path and size), and the ones that are not."""
    cache = PromptCache(root)
    found, missing = [], []
    for text in texts:
        path = cache.lookup(text, tts.lang, tts.voice, tts.backend)
        if path is None and tts.fallback and tts.fallback != tts.backend:
            path = cache.lookup(text, tts.lang, None, tts.fallback)
        if path is None:
            missing.append(text)
        else:
            found.append((str(path), path.stat().st_size))
    return found, missing


def _exit_with_parent(parent: int) -> None:
    """A worker whose process died (kill -9) goes too: no pool is left to shut it down."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _start_worker(nice: int, parent: int) -> None:
    try:  # Linux: SIGKILL when the thread that started this worker ends (its process killed)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # gone already
        os._exit(0)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    if nice:
        os.nice(nice)
    from prompts import espeak_lib

    try:
        espeak_lib.shared()  # load and check the library once, before the first task
    except espeak_lib.LibraryError:
        pass  # logged; the espeak-ng program speaks instead


class RenderPool:
    """A pool of worker processes for prompt renders, all started at once; a context manager."""

    def __init__(self, workers: int | None = None, nice: int = NICE) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                         initargs=(nice, os.getpid()))
        saved = {name: os.environ.get(name) for name in WORKER_ENV}
        os.environ.update(WORKER_ENV)  # read by the workers' numpy when it loads
        try:
            started = [self._pool.submit(os.getpid) for _ in range(self.workers)]
            self.pids = sorted({future.result(timeout=START_TIMEOUT_S) for future in started})
        except BaseException:
            self.close()
            raise
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def render(
        self, root: Path, tts: TtsSettings, texts: Sequence[str], progress: Callable[[int], object] | None = None
    ) -> int:
        """Render every text (cache hits are skipped by the workers); how many were rendered.

        The first worker error (a TtsError naming the text) is raised here, the rest cancelled.
        """
        pending: dict[Future[int], int] = {}
        for start in range(0, len(texts), CHUNK):
            chunk = list(texts[start : start + CHUNK])
            pending[self._pool.submit(render_texts, root, tts, chunk)] = len(chunk)
        rendered = 0
        try:
            for future in as_completed(pending):
                rendered += future.result()
                if progress is not None:
                    progress(pending[future])
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return rendered

    def submit(self, root: Path, tts: TtsSettings, texts: Sequence[str]) -> Future[list[tuple[str, int]]]:
        """One task of a few texts (a contact's personal audio): its files' paths and sizes."""
        return self._pool.submit(render_paths, root, tts, list(texts))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
