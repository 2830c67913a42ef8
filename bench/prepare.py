"""Preparing personal prompt audio: the old path against the new one, in one run.

    python bench/prepare.py [--contacts 4000] [--whole-contacts 800] [--old-contacts 40] [--workers N]
                            [--busy 1] [--nice 10]

A collections campaign in es: every contact has its own name (first name and two surnames drawn
as a real base has them: bench/names.py) and amount (cents vary), one of 60 due dates and one of 5 concepts, and 3 personal sentences (machine message, identity question,
debt). Workers run at the pool's lower priority (nice 10), as in `prompts render`.
- old: what `prompts render` did before: an espeak-ng process and an ffmpeg conversion (pydub)
  per whole sentence, a thread per worker;
- new, whole: the worker pool (libespeak-ng in each worker, resampled in process), whole
  sentences (the first --whole-contacts contacts);
- new, spliced: the same pool, personal sentences spliced from segments (what `prompts render`
  does now).
Then the spliced run again, with --busy processes (default 1) spinning at normal priority beside
it: a stand-in for the dialer and Asterisk taking a core while calls go on.
Each runs into an empty cache; pool start-up is left out of the rates and printed apart, and the
workers' own CPU time per contact (from /proc) is printed with each run. Then the
silence at every join of the spliced sentences is measured on the audio (the longest is
printed) and some renders are repeated in this process to show the bytes are the same.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.names import people  # noqa: E402
from dialer.config import cache_dir  # noqa: E402
from dialer.ivr.flow import load  # noqa: E402
from dialer.ivr.prompt_book import Job, PromptBook  # noqa: E402
from prompts import joins  # noqa: E402
from prompts.audio import to_asterisk_wav  # noqa: E402
from prompts.cache import PromptCache  # noqa: E402
from prompts.espeak_render import Renderer, program_pcm  # noqa: E402
from prompts.render_pool import NICE, RenderPool, TtsSettings  # noqa: E402

CONCEPTS = ["la factura de gas", "la factura de luz", "la cuota del préstamo", "el servicio de agua", "la tarjeta"]
SETTINGS = {"company": "Servicios del Sur", "currency": "ARS"}


def contact_jobs(book: PromptBook, n: int) -> list[list[Job]]:
    out = []
    for i, name in enumerate(people(n)):
        fields = {"amount": f"{10 + (i * 7919) % 2500000 / 100:.2f}", "due_date": (date(2026, 12, 1) + timedelta(days=i % 60)).isoformat(),
                  "concept": CONCEPTS[i % len(CONCEPTS)]}  # fmt: skip
        out.append(list(book.contact_jobs(f"c{i}", name, fields)))
    return out


def old_path(texts: list[str], root: Path, workers: int) -> float:
    """The render before this change: espeak-ng program + pydub/ffmpeg per sentence, threads."""

    def one(item: tuple[int, str]) -> None:
        i, text = item
        raw = io.BytesIO()
        with wave.open(raw, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(program_pcm(text, "es"))  # what `espeak-ng --stdout` printed
        (root / f"{i}.wav").write_bytes(to_asterisk_wav(raw.getvalue(), "wav"))

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, enumerate(texts)))
    return time.perf_counter() - started


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (from /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def pool_path(pool: RenderPool, texts: list[str], root: Path) -> tuple[float, float]:
    """(wall seconds, the workers' CPU seconds) to render the texts."""
    started, cpu = time.perf_counter(), cpu_s(pool.pids)
    rendered = pool.render(root, TtsSettings("es"), texts)
    assert len(set(texts)) <= rendered <= len(texts), (rendered, len(texts))  # two contacts may share a sentence
    return time.perf_counter() - started, cpu_s(pool.pids) - cpu


def spin(stop: Any) -> None:
    while not stop.is_set():
        sum(range(10000))


@contextmanager
def busy(n: int) -> Iterator[None]:
    """n processes burning a core each at normal priority (stopped by their own pids at the end)."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    procs = [context.Process(target=spin, args=(stop,)) for _ in range(n)]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let them start before the measured run
    try:
        yield
    finally:
        stop.set()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def file_ms(root: Path, n: int) -> float:
    """CPU time to create one prompt file the way the cache does (temporary file, rename)."""
    data = bytes(60000)
    started = time.process_time()
    for i in range(n):
        folder = root / f"{i % 256:02x}"
        folder.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".render-", suffix=".wav", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, folder / f"{i}.wav")
    return (time.process_time() - started) / n * 1000


def line(label: str, sentences: int, contacts: int, seconds: float, cpu: float | None = None) -> float:
    cost = f", workers' CPU {cpu / contacts * 1000:.1f} ms/contact" if cpu is not None else ""
    print(f"{label:<34} {sentences / seconds:6.1f} sentences/s {contacts / seconds:6.1f} contacts/s"
          f"  ({sentences} sentences, {seconds:.1f} s{cost})")  # fmt: skip
    return contacts / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=4000)
    parser.add_argument("--whole-contacts", type=int, default=800)
    parser.add_argument("--old-contacts", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--busy", type=int, default=1)
    parser.add_argument("--nice", type=int, default=NICE, help="the workers' niceness (prompts render: %(default)s)")
    args = parser.parse_args()
    book = PromptBook(load("collections"), "es", SETTINGS, PromptCache(cache_dir() / "unused"))
    people = contact_jobs(book, args.contacts)
    per_contact = len(people[0])
    whole = [job.text for jobs in people for job in jobs]
    spliced = [job.render_text for jobs in people for job in jobs]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {per_contact} personal sentences "
          f"per contact; {args.workers} workers at nice {args.nice}")  # fmt: skip
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-prepare-", dir=cache_dir()) as tmp:  # where the prompt cache lives
        roots = [Path(tmp) / name for name in ("old", "whole", "spliced", "warm", "busy")]
        for root in roots:
            root.mkdir()
        old_n = args.old_contacts * per_contact
        old = line("old (program + ffmpeg per sentence)", old_n, args.old_contacts,
                   old_path(whole[:old_n], roots[0], args.workers))  # fmt: skip
        started = time.perf_counter()
        with RenderPool(args.workers, nice=args.nice) as pool:
            pool.render(roots[3], TtsSettings("es"), ["Hola."] * args.workers)
            print(f"pool start-up ({args.workers} workers, library loaded): {time.perf_counter() - started:.2f} s")
            n = args.whole_contacts * per_contact
            line("new, whole sentences", n, args.whole_contacts, *pool_path(pool, whole[:n], roots[1]))
            new = line("new, spliced (prompts render)", len(spliced), args.contacts, *pool_path(pool, spliced, roots[2]))
            if args.busy:
                with busy(args.busy):
                    timing = pool_path(pool, spliced, roots[4])
                line(f"new, spliced, {args.busy} core(s) kept busy", len(spliced), args.contacts, *timing)
        print(f"spliced / old: {new / old:.1f}x contacts/s")
        print(f"of which creating files on this disk: {file_ms(roots[3], 600):.2f} ms per file, "
              f"{per_contact} files per contact")  # fmt: skip
        cache = PromptCache(roots[2])
        renderer, worst, count, same = Renderer(), 0.0, 0, 0
        step = max(1, len(spliced) // 600)
        for text in spliced[::step]:
            samples, at = renderer.samples(text, "es")
            worst = max([worst, *(joins.silence_ms(samples, j) for j in at)])
            count += len(at)
            path = cache.lookup(text, "es", None, "espeak-ng")
            assert path is not None
            data = path.read_bytes()
            same += np.array_equal(np.frombuffer(data[44:], np.int16), samples)
        print(f"joins measured: {count} in {len(spliced[::step])} sentences; longest silence at a join "
              f"{worst:.1f} ms (limit {joins.MAX_JOIN_SILENCE_MS}); same samples as the worker's file: "
              f"{same}/{len(spliced[::step])}")  # fmt: skip


if __name__ == "__main__":
    main()
