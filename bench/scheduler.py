"""The scheduler on a big campaign (SQLite): the import time of N contacts, then the time per
batch of 100 for the due query alone and for a whole claim (query, scheduler, guarded UPDATEs,
attempt INSERTs, commit), with the us-regf policy and a third of the contacts outside their
window (they are parked: next_attempt_at moves to their window's opening).

    python bench/scheduler.py [--contacts 1000000] [--batches 50] [--db PATH]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text, update  # noqa: E402

from dialer.campaigns.contacts_import import import_contacts  # noqa: E402
from dialer.domain import CampaignState, DialResult  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.models import Campaign, Contact  # noqa: E402
from dialer.storage.claims import due_contacts, due_queries  # noqa: E402
from dialer.storage.endings import Ending  # noqa: E402
from dialer.storage.repository import Repository  # noqa: E402

AREAS = ("212", "312", "310")  # New York, Chicago, Los Angeles
SCHEDULE = {
    "policy": "us-regf",
    "timezone": "America/New_York",
    "windows": {"mon-sat": "08:00-21:00"},
    "caps": {"per_day": 3},
}
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York, 09:00 Chicago, 07:00 Los Angeles


def write_csv(path: Path, n: int) -> None:
    with path.open("w") as fh:
        fh.write("id,name,phone,due_date\n")
        for i in range(n):
            fh.write(f"K{i},Name {i},+1{AREAS[i % 3]}{2000000 + i:07d},2026-12-{1 + i % 28:02d}\n")


def ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1] if len(samples) >= 20 else samples[-1]
    return f"median {statistics.median(samples) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scheduler-"))
    path = args.db or work / "bench.db"
    url = f"sqlite:///{path}"
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    csv_path = work / "contacts.csv"
    write_csv(csv_path, args.contacts)

    started = time.perf_counter()
    with sessions.begin() as s:
        campaign = Campaign(
            name="bench",
            state=CampaignState.ACTIVE,
            created_at=NOW,
            default_region="US",
            settings={"schedule": SCHEDULE, "retries": {"max_attempts": 5}},
        )
        s.add(campaign)
        s.flush()
        report = import_contacts(s, campaign, csv_path)
        campaign_id = campaign.id
    took = time.perf_counter() - started
    print(
        f"import: {report.imported:,} contacts (rejected {report.rejected}) in {took:.1f} s, "
        f"{report.imported / took:,.0f} rows/s; database {path.stat().st_size / 1e6:.0f} MB; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )

    with sessions() as s:
        for query in due_queries(campaign_id, NOW, 100):
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            print(
                "due query plan:", " | ".join(row[-1] for row in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
            )

    repo = Repository(sessions, clock=lambda: NOW)
    query_times, claim_times, finish_times, claimed = [], [], [], 0
    for i in range(args.batches):
        now = NOW + timedelta(seconds=i)
        t0 = time.perf_counter()
        with sessions() as s:
            found = due_contacts(s, campaign_id, now, 100)
        query_times.append(time.perf_counter() - t0)
        assert len(found) == 100
        t0 = time.perf_counter()
        plans = repo.claim(campaign_id, 100, now)
        claim_times.append(time.perf_counter() - t0)
        claimed += len(plans)
        t0 = time.perf_counter()
        repo.finish_many([Ending(p.attempt_id, "busy", dial_result=DialResult.BUSY) for p in plans])
        finish_times.append(time.perf_counter() - t0)
    with sessions() as s:
        parked = s.scalar(select(func.count()).select_from(Contact).where(Contact.next_attempt_at > NOW))
    print(f"due query, batch of 100: {ms(query_times)}")
    print(
        f"claim, batch of 100 (us-regf, caps, {claimed / args.batches:.0f} claimed per batch on average, the "
        f"rest parked): {ms(claim_times)}"
    )
    print(f"finish_many, 100 endings (retry pushed by the schedule): {ms(finish_times)}")
    print(f"contacts parked outside their window or waiting a retry: {parked:,}")
    with sessions.begin() as s:  # night: every contact parked until tomorrow; a claim finds nothing
        s.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id)
            .values(next_attempt_at=NOW + timedelta(hours=12), live_attempt_id=None)
        )
    empty = []
    for i in range(args.batches):
        t0 = time.perf_counter()
        assert repo.claim(campaign_id, 100, NOW + timedelta(minutes=1, seconds=i)) == []
        empty.append(time.perf_counter() - t0)
    print(f"claim with every contact parked (nothing due): {ms(empty)}")
    engine.dispose()
    shutil.rmtree(work)  # the CSV, and the database unless --db named it


if __name__ == "__main__":
    main()
