"""HTTP API and webhook speed: contacts accepted per second through POST /api/v1/.../contacts
(a real server on a free port, SQLite in a temp dir) in batches of 1,000 and 10,000, and webhook
deliveries per second from the SQL outbox to a local aiohttp receiver (WebhookSender, short poll).

    python bench/api.py [--contacts 20000] [--events 2000] [--parallel 8]

Prints: contacts/s per batch size (the request's wall time, checks and the one transaction
included), and deliveries/s from the sender's start until the receiver got the last event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.events.webhooks import WebhookSender  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.webhook_store import WebhookStore, enqueue  # noqa: E402
from tests.api_parts import add_key, api_server, call  # noqa: E402
from tests.campaigns import make_campaign, new_database  # noqa: E402
from tests.webhook_receiver import receiver  # noqa: E402

SECRET = "bench-secret-bench-secret"


def batch(start: int, n: int) -> list[dict[str, str]]:
    return [{"external_id": f"X{i}", "name": f"Person {i}", "phone": f"+346{i:08d}", "amount": f"{i % 500}.25"}
            for i in range(start, start + n)]  # fmt: skip


async def contacts_per_second(url: str, total: int) -> list[tuple[int, float, float]]:
    """(batch size, contacts/s, seconds per batch) for 1,000 and 10,000."""
    make_campaign(url, "bench", [], render=False)
    key = add_key(url, "bench", "write")
    out, start = [], 0
    async with api_server(url, rate=1000.0, burst=1000) as (base, _app), aiohttp.ClientSession() as http:
        for size in (1_000, 10_000):
            rounds = max(1, total // size)
            t0 = time.perf_counter()
            for _ in range(rounds):
                status, body, _ = await call(http, "POST", f"{base}/campaigns/bench/contacts", key,
                                             json={"contacts": batch(start, size)})  # fmt: skip
                assert status == 200 and body["added"] == size, (status, body)
                start += size
            took = time.perf_counter() - t0
            out.append((size, rounds * size / took, took / rounds))
    return out


async def deliveries_per_second(url: str, events: int, parallel: int) -> tuple[float, int]:
    sessions = db.session_factory(db.make_engine(url))
    now = datetime.now(UTC)
    async with receiver(SECRET) as box:
        WebhookStore(sessions).add(box.url, SECRET, [], None, now)
        campaign_id = make_campaign(url, "hooks", [], render=False)
        with sessions.begin() as s:
            for i in range(events):
                enqueue(s, campaign_id, "attempt.ended", {"n": i}, now, attempt_id=f"a{i % 50}")
        t0 = time.perf_counter()
        async with WebhookSender(sessions, poll_s=0.02, parallel=parallel):
            while len(box.delivered()) < events:
                if time.perf_counter() - t0 > 600:
                    raise SystemExit(f"only {len(box.delivered())} of {events} delivered in 600 s")
                await asyncio.sleep(0.02)
        took = time.perf_counter() - t0
    return events / took, len(box.delivered())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts per batch size (default 20000)")
    parser.add_argument("--events", type=int, default=2_000, help="webhook events (default 2000)")
    parser.add_argument("--parallel", type=int, default=8, help="the sender's deliveries at a time (default 8)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; SQLite in a temp dir")
    with tempfile.TemporaryDirectory() as tmp:
        for size, rate, per in await contacts_per_second(new_database(f"{tmp}/api.db"), args.contacts):
            print(f"contacts, batches of {size:>6,}: {rate:8.0f} contacts/s ({per:.2f} s a batch)")
        rate, got = await deliveries_per_second(new_database(f"{tmp}/hooks.db"), args.events, args.parallel)
        print(f"webhooks, {got} events, {args.parallel} at a time: {rate:8.0f} deliveries/s (signed, to a local receiver)")


if __name__ == "__main__":
    asyncio.run(main())
