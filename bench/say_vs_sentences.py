"""Whole sentences per contact against fixed segments plus Asterisk's Say* applications.

    python bench/say_vs_sentences.py [--contacts 100] [--calls 100] [--parallel 20] [--ami-port 5038]

1. Preparation: the collections flow's personal prompts of N contacts rendered ahead with the
   thread pool of dialer.ivr.prerender.render, against the fixed segments rendered once; both
   into a fresh temporary DIALER_CACHE_DIR. 10,000 contacts is extrapolated linearly from N.
2. Call time, in the sandbox Asterisk (started here if needed): the same debt sentence played as
   one rendered file (Playback) or as rendered segments + SayNumber + SayUnixTime on a Spanish
   channel (contexts [sim-bench-say] of asterisk_conf/sandbox/extensions_sim.conf). Per call:
   playback wall time on Asterisk's clock, files opened (from the "Playing" lines of the
   sandbox's messages.log), silence between files (wall time minus the files' audio), and
   Asterisk's CPU (utime+stime of its /proc stat) per call, net of a call that plays nothing.
3. Which files Asterisk's Say* plays for 12500 and a date in es, en and pl, and whether each
   file exists in that language (Asterisk falls back to English sounds when it does not).
Needs root (the sandbox chroot) and espeak-ng.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import uuid
import wave
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialer.ami import AmiClient  # noqa: E402
from dialer.config import AmiSettings  # noqa: E402
from dialer.ivr.flow import load  # noqa: E402
from dialer.ivr.prerender import Plan, render  # noqa: E402
from dialer.ivr.prompt_book import Job, PromptBook  # noqa: E402
from dialer.sandbox.instance import Sandbox  # noqa: E402
from prompts.cache import PromptCache, playback_name  # noqa: E402
from prompts.speech import say_amount, say_date  # noqa: E402

SENTENCE = ("Registramos un saldo pendiente de doce mil quinientos pesos por la factura de gas, "
            "con vencimiento el veinte de noviembre.")  # fmt: skip
SEGMENTS = ["Registramos un saldo pendiente de", "pesos por", "la factura de gas", "con vencimiento"]
# What replaces the collections flow's three personal prompts when segments are used: the debt
# message around the amount and the date; the identity question and the machine message around
# the name (which no Say* application can say: SayAlpha would spell it).
FIXED_SEGMENTS = SEGMENTS + ["Este es un mensaje de Servicios del Sur para",
                             "Por favor, comuníquese con nosotros a la brevedad. Gracias.",
                             "Esta es una llamada para", "Si usted es", "presione uno."]  # fmt: skip
AMOUNT = 12500
DUE = date(2026, 11, 20)
FIRST = ["Ana", "José", "Lucía", "Carlos", "Marta", "Pedro", "Sofía", "Jorge", "Elena", "Raúl"]
LAST = ["Pérez", "Muñoz", "Gómez", "Díaz", "Ruiz", "Sáenz", "Torres", "Vega", "Castro", "Rojas"]
NAMES = [f"{first} {last}" for last in LAST for first in FIRST]  # 100 different contacts
SETTINGS = {"company": "Servicios del Sur", "currency": "ARS"}
DATE_FORMATS = {"es": "'digits/es-el' d 'digits/es-de' B", "en": "B d", "pl": "d B"}
PLAYING = re.compile(r"<(?P<chan>[^>]+)> Playing '(?P<file>[^']+)' \(language '(?P<lang>[^']+)'\)")
UNABLE = re.compile(r"Unable to open (?P<file>\S+) ")


# -- 1. preparation -------------------------------------------------------------------------------
@contextmanager
def fresh_cache() -> Iterator[Path]:
    """A temporary DIALER_CACHE_DIR, so every prompt is rendered, never found."""
    old = os.environ.get("DIALER_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DIALER_CACHE_DIR"] = tmp
        try:
            yield Path(tmp) / "prompts"
        finally:
            if old is None:
                os.environ.pop("DIALER_CACHE_DIR", None)
            else:
                os.environ["DIALER_CACHE_DIR"] = old


def contact_fields(i: int) -> dict[str, str]:
    return {"amount": str(Decimal(1000 + 37 * i) + Decimal("0.50")), "concept": "la factura de gas",
            "due_date": date(2026, 11, 1 + i % 30).isoformat()}  # fmt: skip


def timed_render(book: PromptBook, jobs: list[Job], root: Path) -> dict[str, float]:
    started = time.perf_counter()
    rendered = render(Plan(book, jobs))
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in root.rglob("*.wav"))
    return {"files": rendered, "seconds": seconds, "bytes": size}


def preparation(contacts: int) -> dict[str, dict[str, float]]:
    out = {}
    with fresh_cache() as root:
        book = PromptBook(load("collections"), "es", SETTINGS, PromptCache())
        jobs = [job for i in range(contacts)
                for job in book.contact_jobs(str(i), NAMES[i % len(NAMES)], contact_fields(i))]  # fmt: skip
        out["sentences"] = timed_render(book, jobs, root)
    with fresh_cache() as root:
        book = PromptBook(load("collections"), "es", SETTINGS, PromptCache())
        out["segments"] = timed_render(book, [Job("segment", text) for text in FIXED_SEGMENTS], root)
    return out


# -- 2. call time -----------------------------------------------------------------------------------
@dataclass
class CallRun:
    mode: str
    calls: int
    cpu_s: float = 0.0
    walls: list[float] = field(default_factory=list)
    files: list[int] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)  # silence at the joins, inside the files
    failed: int = 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def audio_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def edge_silence(path: Path, threshold: int = 300) -> tuple[float, float]:
    """Seconds of near-silence (|sample| < threshold) at the start and at the end of a 16-bit WAV."""
    with wave.open(str(path)) as w:
        rate, samples = w.getframerate(), array("h", w.readframes(w.getnframes()))
    loud = [i for i, v in enumerate(samples) if abs(v) >= threshold]
    if not loud:
        return len(samples) / rate, 0.0
    return loud[0] / rate, (len(samples) - 1 - loud[-1]) / rate


def join_silence(paths: list[Path]) -> float:
    """Silence a listener hears where one file ends and the next begins (inside the files)."""
    edges = [edge_silence(p) for p in paths]
    return sum(edges[i][1] + edges[i + 1][0] for i in range(len(edges) - 1))


def chroot_path(sandbox: Sandbox, inner: str) -> Path:
    """The host path of a path inside the chroot, following its symlinks inside the chroot."""
    parts, done, hops = [p for p in inner.split("/") if p], Path("/"), 0
    while parts:
        here = sandbox.host_path(str(done / parts[0]))
        if here.is_symlink() and hops < 40:
            target, hops = os.readlink(here), hops + 1
            parts = [p for p in target.split("/") if p] + parts[1:]
            if target.startswith("/"):
                done = Path("/")
            continue
        done, parts = done / parts[0], parts[1:]
    return sandbox.host_path(str(done))


def sound_path(sandbox: Sandbox, name: str, lang: str) -> tuple[Path | None, str]:
    """Where Asterisk finds a played file: (host path, the sounds language it came from).

    The log names the file with the channel's format (digits/12.slin); Asterisk takes any
    format it has, looking in sounds/<lang>, then sounds/, then sounds/en (file.c).
    """
    stem = name.rsplit(".", 1)[0]
    if stem.startswith("/"):
        found = sorted(Path(stem).parent.glob(Path(stem).name + ".*"))
        return (found[0], "own") if found else (None, "missing")
    for where in (lang, "", "en"):
        inner = f"/usr/share/asterisk/sounds/{where}/{stem}".replace("//", "/")
        directory, base = chroot_path(sandbox, inner).parent, Path(stem).name
        found = sorted(directory.glob(base + ".wav")) or sorted(directory.glob(base + ".*"))
        if found:
            return found[0], where or "sounds/"
    return None, "missing"


def played(log: Path, offset: int) -> dict[str, list[tuple[str, str]]]:
    """Files each channel played since `offset` of messages.log: channel -> [(file, language)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    with open(log, "rb") as fh:
        fh.seek(offset)
        for line in fh.read().decode(errors="replace").splitlines():
            if m := PLAYING.search(line):
                out.setdefault(m["chan"], []).append((m["file"], m["lang"]))
    return out


def ours(event: Any, call_id: str) -> bool:
    return bool(event.get("UserEvent") == "BenchSay" and event.get("Id") == call_id)


async def one_call(ami: AmiClient, exten: str, variables: dict[str, str]) -> dict[str, str]:
    """Originate Local/<exten>@sim-bench-say and return its BenchSay marks (start, end)."""
    call_id = str(uuid.uuid4())
    marks: dict[str, str] = {}
    with ami.events(["UserEvent"]) as stream:
        resp = await ami.originate(channel=f"Local/{exten}@sim-bench-say/n", context="sim-bench-listen",
                                   channel_id=call_id, timeout_ms=10000,
                                   variables={**variables, "ID": call_id})  # fmt: skip
        if resp.get("Response") != "Success":
            return {"failed": str(resp.get("Reason"))}
        while "hangup" not in marks:
            event = await stream.wait_for(lambda e: ours(e, call_id), 60)
            marks[str(event.get("Mark"))] = str(event.get("T"))
            marks.setdefault("channel", str(event.get("Channel")))
    return marks if "end" in marks else {"failed": "no end of playback", **marks}


async def call_runs(sandbox: Sandbox, calls: int, parallel: int, files: dict[str, Path]) -> list[CallRun]:
    pid = sandbox.pid()
    assert pid is not None
    log = sandbox.host_path(sandbox.inner_var) / "log" / "messages.log"
    base = {"LANG": "es", "SENTENCE": playback_name(files[SENTENCE]), "AMOUNT": str(AMOUNT),
            "DAY": str(int(datetime(DUE.year, DUE.month, DUE.day, 12, tzinfo=UTC).timestamp()))}  # fmt: skip
    base.update({f"SEG{i + 1}": playback_name(files[text]) for i, text in enumerate(SEGMENTS)})
    runs = []
    async with AmiClient(AmiSettings(port=sandbox.ami_port, action_timeout=60)) as ami:
        for mode in ("empty", "sentence", "segments"):
            run = CallRun(mode, calls)
            sem = asyncio.Semaphore(parallel)

            async def limited() -> dict[str, str]:
                async with sem:
                    return await one_call(ami, mode, base)  # noqa: B023

            offset = log.stat().st_size
            cpu = cpu_seconds(pid)
            batch = asyncio.gather(*(limited() for _ in range(calls)))
            results = await asyncio.wait_for(batch, calls * 30 + 60)
            await asyncio.sleep(1.0)  # hang-ups and the log catch up
            run.cpu_s = cpu_seconds(pid) - cpu
            by_channel = played(log, offset)
            for marks in results:
                if "failed" in marks:
                    run.failed += 1
                    continue
                wall = float(marks["end"]) - float(marks["start"])
                opened = by_channel.get(marks["channel"], [])
                paths = [p for name, lang in opened if (p := sound_path(sandbox, name, lang)[0]) is not None]
                audio = sum(audio_seconds(p) for p in paths)
                run.pauses.append(join_silence(paths))
                run.walls.append(wall)
                run.files.append(len(opened))
                run.gaps.append(wall - audio)
            runs.append(run)
    return runs


# -- 3. what Say* says --------------------------------------------------------------------------------
SAY_CASES = [  # (language, number, gender, what a native speaker says with the currency)
    ("es", 12500, "", say_amount(Decimal(12500), "ARS", "es")),
    ("es", 12500, "f", "doce mil quinientas libras"),
    ("es", 21, "", say_amount(Decimal(21), "ARS", "es")),
    ("es", 1000000, "", say_amount(Decimal(1000000), "ARS", "es")),
    ("en", 12500, "", say_amount(Decimal(12500), "USD", "en")),
    ("pl", 12500, "", say_amount(Decimal(12500), "PLN", "pl")),
]


def said(sandbox: Sandbox, log: Path, offset: int, lang: str) -> list[tuple[str, str]]:
    """Files played or missing since `offset` (one call at a time): [(file, where it was found)]."""
    out = []
    with open(log, "rb") as fh:
        fh.seek(offset)
        for line in fh.read().decode(errors="replace").splitlines():
            if m := PLAYING.search(line):
                out.append((m["file"], sound_path(sandbox, m["file"], lang)[1]))
            elif m := UNABLE.search(line):
                out.append((m["file"], "missing"))
    return out


async def transcripts(sandbox: Sandbox) -> list[tuple[str, int, str, str, list[tuple[str, str]]]]:
    log = sandbox.host_path(sandbox.inner_var) / "log" / "messages.log"
    day = str(int(datetime(DUE.year, DUE.month, DUE.day, 12, tzinfo=UTC).timestamp()))
    out = []
    async with AmiClient(AmiSettings(port=sandbox.ami_port, action_timeout=60)) as ami:
        for lang, number, gender, native in SAY_CASES:
            offset = log.stat().st_size
            await one_call(ami, "say", {"LANG": lang, "AMOUNT": str(number), "GENDER": gender,
                                       "DAY": day, "DATEFMT": DATE_FORMATS[lang]})  # fmt: skip
            await asyncio.sleep(0.5)
            out.append((lang, number, gender, native, said(sandbox, log, offset, lang)))
    return out


# -- output ---------------------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--ami-port", type=int, default=5038)
    parser.add_argument("--agi-port", type=int, default=4573)
    args = parser.parse_args()

    prep = preparation(args.contacts)
    sandbox = Sandbox(ami_port=args.ami_port, agi_port=args.agi_port)
    sandbox.up(progress=lambda _m: None)
    cache = PromptCache()  # the cache the sandbox bind-mounts
    files = {text: cache.render(text, "es") for text in [SENTENCE, *SEGMENTS]}
    runs = {r.mode: r for r in asyncio.run(call_runs(sandbox, args.calls, args.parallel, files))}
    says = asyncio.run(transcripts(sandbox))

    n, cores = args.contacts, os.cpu_count() or 1
    sent, seg = prep["sentences"], prep["segments"]
    empty = runs["empty"].cpu_s / args.calls
    print(f"1. Preparation (fresh cache, {cores} render threads; "
          f"10,000 contacts extrapolated linearly from {n})")  # fmt: skip
    print(f"   sentences: {sent['files']:.0f} files for {n} contacts in {sent['seconds']:.1f} s")
    print(f"   segments:  {seg['files']:.0f} files once in {seg['seconds']:.2f} s "
          "(Say* sounds ship with Asterisk)")  # fmt: skip
    print(f"\n2. Call time: {args.calls} calls per approach, {args.parallel} at a time, Spanish channel")
    for run in runs.values():
        print(f"   {run.mode:9s} Asterisk CPU {run.cpu_s:.2f} s / {args.calls} calls, failed {run.failed}")
    print("\n3. Files Asterisk's Say* played (12500 and 2026-11-20; [sounds language it was found in])")
    ok = {"es": True, "en": True, "pl": True}
    for lang, number, gender, native, played_files in says:
        names = " ".join(f"{name.rsplit('.', 1)[0]}[{where}]" for name, where in played_files)
        print(f"   {lang} SayNumber({number}{',' + gender if gender else ''}) + date: {names}")
        print(f"      a native speaker: {native!r} / {say_date(DUE, lang)!r}")
        if any(where not in (lang, "own") for _n, where in played_files):
            ok[lang] = False
    es = {(num, g): [n for n, _w in f] for lang, num, g, _n, f in says if lang == "es"}
    checks = {
        "quinientas (gender f)": es[(12500, "f")] != es[(12500, "")],
        "'de' after millón": any("es-de" in n for n in es[(1000000, "")][:3]),
        "veintiún before a noun": not any(n.startswith("digits/21.") for n in es[(21, "")]),
    }
    for what, right in checks.items():
        print(f"   es {what}: {'right' if right else 'WRONG'}")
        ok["es"] = ok["es"] and right
    wall = {m: median(runs[m].walls) for m in ("sentence", "segments")}
    gaps = {m: median(runs[m].gaps) for m in ("sentence", "segments")}
    opened = {m: median([float(x) for x in runs[m].files]) for m in ("sentence", "segments")}
    net = {m: (runs[m].cpu_s / args.calls - empty) * 1000 for m in ("sentence", "segments")}
    right_langs = " ".join(lang for lang, right in ok.items() if right) or "none"
    langs = {"sentence": "es en pl", "segments": right_langs}
    row = "   {:34s} {:>16s} {:>16s}"
    print("\nComparison")
    print(row.format("", "whole sentences", "segments + Say*"))
    print(row.format(f"prepare {n} contacts (s)", f"{sent['seconds']:.1f}", f"{seg['seconds']:.2f}"))
    print(row.format("prepare 10,000 contacts (s, extrap.)", f"{sent['seconds'] * 10000 / n:.0f}",
                     f"{seg['seconds']:.2f}"))  # fmt: skip
    print(row.format("disk per contact (KB)", f"{sent['bytes'] / n / 1024:.0f}", "0"))
    print(row.format("Asterisk CPU per call (ms, net)", f"{net['sentence']:.2f}", f"{net['segments']:.2f}"))
    print(row.format("playback wall time (s, median)", f"{wall['sentence']:.2f}", f"{wall['segments']:.2f}"))
    print(row.format("files opened per call", f"{opened['sentence']:.0f}", f"{opened['segments']:.0f}"))
    print(row.format("Asterisk's gap between files (s)", f"{gaps['sentence']:.3f}",
                     f"{gaps['segments']:.3f}"))  # fmt: skip
    pauses = {m: median(runs[m].pauses) for m in ("sentence", "segments")}
    print(row.format("silence at the joins, in files (s)", f"{pauses['sentence']:.2f}",
                     f"{pauses['segments']:.2f}"))  # fmt: skip
    print(row.format("languages said right", langs["sentence"], langs["segments"]))
    print(f"   (CPU net of a call that plays nothing: {empty * 1000:.2f} ms per call)")


if __name__ == "__main__":
    main()
