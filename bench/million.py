"""A million contacts, from a Spanish operator's CSV to the database (SQLite), streamed.

Prints the import's wall time, rows per second, and the peak RSS of the importing process and
of its number workers; then the same file with --strict and one bad row at the end (everything
undone), and a single-process run (--workers 0) for the ratio the workers buy.

    python bench/million.py [--rows 1000000] [--skip-single] [--skip-strict]
"""

from __future__ import annotations

import argparse
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


def write_csv(path: Path, rows: int, bad_last: bool = False) -> None:
    """id;nombre;telefono;importe;vencimiento;concepto, as a Spanish billing system writes them."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id;nombre;telefono;importe;vencimiento;concepto\n")
        for i in range(rows):
            mobile = 600_000_000 + i * 7 % 99_999_999 if i % 2 else 700_000_000 + i
            amount = f"{(i * 37) % 90_000 + 10:,}".replace(",", ".") + f",{i % 100:02d}"
            fh.write(f"C{i};Cliente {i};{mobile};{amount};{1 + i % 28:02d}/12/2026;factura {i % 12}\n")
        if bad_last:
            fh.write("BAD;Nadie;12;1,00;01/12/2026;x\n")


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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-million-"))
    csv_path = work / "contactos.csv"
    write_csv(csv_path, args.rows)
    print(f"{args.rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB")

    took, imported, stored = run(f"sqlite:///{work / 'a.db'}", csv_path, "bench", None)
    print(f"import (workers: one per core): {took:.1f} s, {args.rows / took:,.0f} rows/s, imported {imported:,}, "
          f"stored {stored:,}; peak RSS importer {peak_mb(resource.RUSAGE_SELF):.0f} MB, "
          f"largest worker {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB")  # fmt: skip
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


if __name__ == "__main__":
    main()
