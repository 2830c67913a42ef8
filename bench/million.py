"""A million contacts, from a Spanish operator's CSV to the database (SQLite), streamed, then
called.

Prints the import's wall time, rows per second, and the peak RSS of the importing process and
of its number workers. Then the campaign starts against the sandbox Asterisk (started here if it
is not running; root): the time from the import's end to its first Originate (shared prompts
rendered at the start, each contact's personal audio prepared at its claim), the calls' wait for
their audio before the Originate (p50, p99) at --cps calls/s, contacts prepared per second (paced
by the calls; beside the calls, in their pool, as fast as it goes; and unpaced), and the disk personal audio holds after --calls calls. Then the same
file with --strict and one bad row at the end (everything undone), and a single-process run
(--workers 0) for the ratio the workers buy.

    python bench/million.py [--rows 1000000] [--calls 10000] [--cps 100] [--skip-calls]
                            [--skip-single] [--skip-strict] [--beside 6000] [--ami-port 5038] [--agi-port 4573]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from dialer.campaigns.contacts_import import import_contacts  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.models import Campaign, Contact  # noqa: E402
from bench.million_calls import activate, last_contacts, prepare_rate, run_calls  # noqa: E402
from bench.names import people  # noqa: E402
from dialer.sandbox.instance import Sandbox  # noqa: E402


def write_csv(path: Path, rows: int, bad_last: bool = False) -> None:
    """id;nombre;telefono;importe;vencimiento;concepto, as a Spanish billing system writes them."""
    names = people(rows)  # common and rare first names and surnames, as a real base has them (bench/names.py)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id;nombre;telefono;importe;vencimiento;concepto\n")
        for i in range(rows):
            mobile = 600_000_000 + i * 7 % 99_999_999 if i % 2 else 700_000_000 + i
            amount = f"{(i * 37) % 90_000 + 10:,}".replace(",", ".") + f",{i % 100:02d}"
            fh.write(f"C{i};{names[i]};{mobile};{amount};{1 + i % 28:02d}/12/2026;factura {i % 12}\n")
        if bad_last:
            fh.write("BAD;Nadie;12;1,00;01/12/2026;x\n")


def cpu_s() -> float:
    """CPU seconds (user + system) of this process and its ended workers."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(url: str, csv_path: Path, name: str, workers: int | None, strict: bool = False) -> tuple[float, int, int]:
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        s.add(Campaign(name=name, flow="collections", language="es", default_region="ES",
                       created_at=datetime.now(UTC)))  # fmt: skip
    started = time.perf_counter()
    with sessions.begin() as s:
        campaign = s.scalars(select(Campaign).where(Campaign.name == name)).one()
        report = import_contacts(s, campaign, csv_path, workers=workers, strict=strict)
    took = time.perf_counter() - started
    with sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Contact).join(Campaign).where(Campaign.name == name)) or 0
    engine.dispose()
    return took, report.imported, stored


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-strict", action="store_true")
    parser.add_argument("--skip-calls", action="store_true")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--cps", type=float, default=100.0, help="the campaign's calls per second")
    parser.add_argument("--cap", type=int, default=200, help="the campaign's live calls")
    parser.add_argument("--prepare", type=int, default=4_000, help="contacts prepared unpaced")
    parser.add_argument("--beside", type=int, default=6_000, help="contacts prepared beside the calls, unpaced")
    parser.add_argument("--ami-port", type=int, default=5038)
    parser.add_argument("--agi-port", type=int, default=4573)
    args = parser.parse_args()
    sandbox = Sandbox(ami_port=args.ami_port, agi_port=args.agi_port)
    if not args.skip_calls:
        sandbox.up()  # running before the import, as a PBX is
    work = Path(tempfile.mkdtemp(prefix="bench-million-"))
    csv_path = work / "contactos.csv"
    write_csv(csv_path, args.rows)
    print(f"{args.rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB")

    url = f"sqlite:///{work / 'a.db'}"
    cpu_before, load = cpu_s(), os.getloadavg()[0]
    took, imported, stored = run(url, csv_path, "bench", None)
    import_end = time.perf_counter()
    cpu = cpu_s() - cpu_before
    cores = os.cpu_count() or 1
    print(f"import (workers: one per core): {took:.1f} s, {args.rows / took:,.0f} rows/s, imported {imported:,}, "
          f"stored {stored:,}; peak RSS importer {peak_mb(resource.RUSAGE_SELF):.0f} MB, "
          f"largest worker {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB")  # fmt: skip
    print(f"import CPU (importer and workers): {cpu:.1f} s, {cpu / args.rows * 1e6:.0f} us a row; load average "
          f"{load:.2f} at the start; on {cores} idle cores at least {cpu / cores:.1f} s (target 30 s)")  # fmt: skip
    if not args.skip_calls:
        calls(url, sandbox, import_end, args)
    if not args.skip_single:
        single, _, _ = run(f"sqlite:///{work / 'b.db'}", csv_path, "bench", 0)
        print(f"import in one process: {single:.1f} s, {args.rows / single:,.0f} rows/s; "
              f"workers / one process = {single / took:.2f}x faster")  # fmt: skip
    if not args.skip_strict:
        bad = work / "bad.csv"
        write_csv(bad, args.rows, bad_last=True)
        strict, imported, stored = run(f"sqlite:///{work / 'c.db'}", bad, "bench", None, strict=True)
        print(f"--strict with one bad row at the end: {strict:.1f} s, imported {imported}, stored {stored} "
              f"(all undone); peak RSS importer {peak_mb(resource.RUSAGE_SELF):.0f} MB")  # fmt: skip


def calls(url: str, sandbox: Sandbox, import_end: float, args: argparse.Namespace) -> None:
    cid = activate(url, "bench", args.cps, args.cap)
    beside = last_contacts(url, cid, args.beside) if args.beside else None
    got = asyncio.run(run_calls(url, sandbox, cid, import_end, args.calls, beside))
    print(f"first Originate {got.first_originate_s:.1f} s after the import's end (limit 60: "
          f"{got.first_originate_s / 60:.2f} of it); {got.originated:,} calls in {got.calls_s:.1f} s "
          f"({got.originated / max(got.calls_s, 1e-9):.1f} calls/s, asked {args.cps:g})")  # fmt: skip
    late = sum(1 for w in got.waits if w > 0.001)
    print(f"wait for audio before the Originate: p50 {got.pct(0.5) * 1000:.1f} ms, p99 {got.pct(0.99) * 1000:.1f} ms, "
          f"max {max(got.waits, default=0) * 1000:.1f} ms; {late:,} of {len(got.waits):,} calls waited over 1 ms; "
          f"after the answer: 0 (audio is awaited before the Originate)")  # fmt: skip
    print(f"prepared during the calls: {got.prepared:,} contacts, {got.prepared / max(got.prepare_s, 1e-9):.0f}/s "
          f"(paced by the calls)")  # fmt: skip
    if got.beside is not None:
        b = got.beside
        print(f"prepared beside the calls, in their pool: {b.extra:,} other contacts and {b.calls_prepared:,} of the "
              f"calls' in {b.seconds:.1f} s, {b.rate:.0f} contacts/s (target 200: {b.rate / 200:.2f}x) while "
              f"{b.originated / b.seconds:.1f} calls/s went out")  # fmt: skip
    n, took = asyncio.run(prepare_rate(url, cid, args.prepare))
    print(f"prepared unpaced: {n:,} contacts in {took:.1f} s, {n / took:.0f} contacts/s "
          f"(target 200: {n / took / 200:.2f}x)")  # fmt: skip
    print(f"personal audio on disk after {got.all_calls:,} calls: {got.personal_bytes / 1e6:.1f} MB in "
          f"{got.personal_files:,} files; prepared {got.prepared_bytes / 1e6:.1f} MB, {got.removed_files:,} files "
          f"removed as their contacts settled (kept / prepared = "
          f"{got.personal_bytes / max(got.prepared_bytes, 1):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
