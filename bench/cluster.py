"""Claims on one PostgreSQL shared by several dialer hosts: claims per second and claim latency
(p50, p99) with 1, 2 and 4 claiming processes on one campaign of N contacts (default 1M).

Each process is a host: its own connections, claiming batches of --batch contacts and ending
them at once (busy, one batched ending as the recorder writes them), so the campaign's live calls never fill its cap and every claim
takes the campaign's row lock, counts its live calls, takes guards and writes its attempts: the
whole path a real claim takes. A throw-away PostgreSQL server is started and stopped here.

    python bench/cluster.py [--contacts 1000000] [--seconds 15] [--batch 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from dialer.domain import DialResult  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.endings import Ending  # noqa: E402
from dialer.storage.repository import Repository  # noqa: E402
from tests.postgres import temporary_postgres  # noqa: E402


def fill(url: str, contacts: int) -> int:
    """One active campaign with `contacts` contacts of one phone each, generated in SQL."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        cid = conn.execute(text(
            "INSERT INTO campaign (name, state, flow, language, default_region, trunk_template, max_concurrent,"
            " calls_per_second, ring_timeout_s, settings, created_at, rate_tokens)"
            " VALUES ('bench', 'active', 'notify', 'es', 'ES', 'Local/{number}@x', 100000, 1000000, 30,"
            " '{\"retries\": {\"max_attempts\": 3, \"delay_s\": {\"busy\": 86400}}}', now(), 0) RETURNING id"
        )).scalar_one()  # fmt: skip
        conn.execute(text(
            "INSERT INTO contact (campaign_id, external_id, fields, disposition, created_at, attempts, next_phone)"
            " SELECT :cid, 'C' || g, '{}', 'pending', now(), 0, 0 FROM generate_series(1, :n) AS g"
        ), {"cid": cid, "n": contacts})  # fmt: skip
        conn.execute(text(
            "INSERT INTO phone (contact_id, position, number, type)"
            " SELECT id, 0, '+346' || lpad((10000000 + id)::text, 8, '0'), 'mobile' FROM contact WHERE campaign_id = :cid"
        ), {"cid": cid})  # fmt: skip
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return int(cid)


def host(url: str, cid: int, seconds: float, batch: int, name: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = db.make_engine(url)
    repo = Repository(db.session_factory(engine), node=name)
    latencies: list[float] = []
    claimed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        plans = repo.claim(cid, batch, datetime.now(UTC))
        latencies.append(time.perf_counter() - started)
        claimed += len(plans)
        if plans:  # the recorder ends calls in batches too
            repo.finish_many([Ending(p.attempt_id, "bench", dial_result=DialResult.BUSY) for p in plans])
    engine.dispose()
    out.put((claimed, latencies))


def run(url: str, cid: int, processes: int, seconds: float, batch: int) -> tuple[float, float, float, float]:
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.Process(target=host, args=(url, cid, seconds, batch, f"bench-{i}", out))
             for i in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    claimed = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    claims = len(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return claims / seconds, claimed / seconds, statistics.median(latencies) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    with temporary_postgres() as url:
        db.upgrade(url)
        started = time.perf_counter()
        cid = fill(url, args.contacts)
        print(f"{args.contacts:,} contacts generated in PostgreSQL in {time.perf_counter() - started:.1f} s")
        print(f"{'processes':>9}  {'claims/s':>9}  {'contacts/s':>10}  {'p50 ms':>7}  {'p99 ms':>7}")
        base = 0.0
        for processes in (1, 2, 4):
            claims, contacts, p50, p99 = run(url, cid, processes, args.seconds, args.batch)
            base = base or contacts
            print(f"{processes:>9}  {claims:>9.0f}  {contacts:>10.0f}  {p50:>7.1f}  {p99:>7.1f}"
                  f"   ({contacts / base:.2f}x one process)")  # fmt: skip
        print(f"each claim of {args.batch} is followed by one batched ending of them (busy): contacts/s is calls/s "
              "the database carries, claims and endings together; a host at 100 calls/s needs 100")


if __name__ == "__main__":
    main()
