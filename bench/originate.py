"""Originate throughput: a bare panoramisk loop against the dialer engine, same calls, same cap.

    python bench/originate.py [--calls 2000] [--caps 200,1000] [--ring 2] [--ami-port 5038]

Every call goes to a simulated customer that rings without answering, so it stays live for
`--ring` seconds and ends with OriginateResponse reason 3: the cap, not the IVR, sets the pace.
Each mode runs in its own process; the engine's process reports its peak RSS and the event
loop's lag (p99 of how late a 10 ms timer fires). Prints calls/s of both and engine/bare.
Needs the sandbox (started here if it is not running) and root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialer.ami import AmiClient  # noqa: E402
from dialer.config import AmiSettings, EngineSettings  # noqa: E402
from dialer.domain import CampaignState  # noqa: E402
from dialer.engine import SWITCH_INTERVAL_S, Engine  # noqa: E402
from dialer.sandbox.instance import Sandbox  # noqa: E402
from dialer.sandbox.sim import sim_number  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.models import Campaign, Contact, Phone  # noqa: E402
from dialer.storage.repository import Repository  # noqa: E402


def numbers(n: int) -> list[str]:
    return [sim_number("no_answer", tag=i) for i in range(n)]


async def bare(ami: AmiSettings, n: int, cap: int, ring_s: int) -> dict[str, float]:
    """Originate with panoramisk alone: a semaphore as the cap, nothing recorded."""
    from panoramisk import Manager

    manager = Manager(host=ami.host, port=ami.port, username=ami.username, secret=ami.secret, ping_delay=3600)
    await manager.connect()
    await asyncio.sleep(0.5)  # login
    sem = asyncio.Semaphore(cap)
    started = time.perf_counter()
    pending = []
    for i, number in enumerate(numbers(n)):
        await sem.acquire()
        future = manager.send_action({
            "Action": "Originate", "Channel": f"Local/{number}@sim-customers", "Context": "dialer-outbound",
            "Exten": "s", "Priority": "1", "Async": "true", "Timeout": str(ring_s * 1000),
            "ChannelId": f"bench-{i}-{time.time_ns()}",
        })  # fmt: skip
        future.add_done_callback(lambda _f: sem.release())
        pending.append(future)
    await asyncio.wait_for(asyncio.gather(*pending), ring_s * 10 + 60)
    elapsed = time.perf_counter() - started
    manager.close()
    return {"calls": n, "seconds": elapsed, "calls_per_s": n / elapsed}


def add_campaign(url: str, n: int, cap: int, ring_s: int) -> int:
    now = datetime.now(UTC)
    with db.session_factory(db.make_engine(url)).begin() as s:
        campaign = Campaign(name="bench", state=CampaignState.ACTIVE, created_at=now, max_concurrent=cap,
                            calls_per_second=100000, ring_timeout_s=ring_s,
                            settings={"retries": {"max_attempts": 1}})  # fmt: skip
        s.add(campaign)
        s.add_all(Contact(campaign=campaign, external_id=str(i), created_at=now, fields={},
                          phones=[Phone(number=number)]) for i, number in enumerate(numbers(n)))  # fmt: skip
        s.flush()
        return campaign.id


async def engine(ami: AmiSettings, n: int, cap: int, ring_s: int) -> dict[str, float]:
    lags: list[float] = []

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        db.upgrade(url)
        cid = add_campaign(url, n, cap, ring_s)
        eng = Engine(Repository(db.session_factory(db.make_engine(url))), ami,
                     EngineSettings(poll_s=0.2, drain_timeout_s=30))  # fmt: skip
        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        await eng.run_until_finished([cid], timeout=ring_s * n / cap * 5 + 120)
        elapsed = time.perf_counter() - started
        tick.cancel()
    peak_kb = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
    lags.sort()
    return {
        "calls": n,
        "seconds": elapsed,
        "calls_per_s": n / elapsed,
        "peak_rss_mb": peak_kb / 1024,
        "loop_lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000 if lags else 0.0,
    }


def child(mode: str, port: int, n: int, cap: int, ring_s: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--ami-port", str(port), "--calls", str(n),
         "--caps", str(cap), "--ring", str(ring_s)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def asterisk_idle(ami: AmiSettings) -> None:
    """Wait until the previous run's channels are gone."""
    async with AmiClient(ami) as client:
        for _ in range(120):
            if not await client.action_list({"Action": "CoreShowChannels"}, timeout=30):
                return
            await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--caps", default="200,1000")
    parser.add_argument("--ring", type=int, default=2, help="seconds each call rings")
    parser.add_argument("--ami-port", type=int, default=5038)
    parser.add_argument("--agi-port", type=int, default=4573)
    parser.add_argument("--child", choices=["bare", "engine"])
    args = parser.parse_args()
    ami = AmiSettings(port=args.ami_port, action_timeout=60)
    if args.child:
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `dialer run` does
        fn = bare if args.child == "bare" else engine
        print(json.dumps(asyncio.run(fn(ami, args.calls, int(args.caps), args.ring))))
        return
    Sandbox(ami_port=args.ami_port, agi_port=args.agi_port).up()
    for cap in (int(c) for c in args.caps.split(",")):
        runs = {}
        for mode in ("bare", "engine"):
            asyncio.run(asterisk_idle(ami))
            runs[mode] = child(mode, args.ami_port, args.calls, cap, args.ring)
        b, e = runs["bare"], runs["engine"]
        print(f"cap {cap}, {args.calls} calls ringing {args.ring} s: bare {b['calls_per_s']:.1f} calls/s, "
              f"engine {e['calls_per_s']:.1f} calls/s, engine/bare {e['calls_per_s'] / b['calls_per_s']:.2f}; "
              f"engine peak RSS {e['peak_rss_mb']:.0f} MB, loop lag p99 {e['loop_lag_p99_ms']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
