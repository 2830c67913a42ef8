"""Fixed cap against queue pacing, side by side in one run on the sandbox: two campaigns of N
contacts (half ask for an agent, half press 1 and hang up), each on its own floor of 3 simulated
agents; one dials at a fixed cap of 20 (`pacing = "cap"`), the other is paced on its agents.

Times are scaled down to keep the run short: agents talk 4-6 s (the issue's 20-30 s / 5) and a
caller waits at most 12 s for an agent (60 s / 5); ratios between the two campaigns are what to read.
Prints per campaign: abandonment rate, agent occupancy, callers' wait (p50, p95), contacts finished
per minute, and the run's length.

    python bench/queue_pacing.py [--contacts 100] [--ami-port P] [--agi-port P]  (default: the test ports)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DIALER_SANDBOX", "1")

from dialer.ami import AmiClient  # noqa: E402
from dialer.config import EngineSettings  # noqa: E402
from dialer.engine import Engine  # noqa: E402
from dialer.engine.ivr_host import IvrHost  # noqa: E402
from dialer.reports.transfers import percentile  # noqa: E402
from dialer.sandbox.agents import Floor, FloorShape  # noqa: E402
from dialer.sandbox.instance import Sandbox  # noqa: E402
from dialer.sandbox.sim import sim_number  # noqa: E402
from dialer.storage import db  # noqa: E402
from dialer.storage.repository import Repository  # noqa: E402
from tests.campaigns import attempts, make_campaign, new_database  # noqa: E402

FLOW = str(Path(__file__).resolve().parent.parent / "tests" / "flows" / "agent.toml")
AGENTS, TALK_S, LIMIT_S, CAP = 3, (4, 6), 12, 20
SHORT = {"collections_menu": "Pulse dos.", "transfer_wait": "Un momento.", "goodbye": "Adiós.",
         "agent_whisper": "{name}."}  # fmt: skip


def campaign(url: str, name: str, queue: str, pacing: str, contacts: int, tag: int) -> int:
    numbers = [sim_number("human", answers=["2" if i % 2 == 0 else "1"], tag=tag + i) for i in range(contacts)]
    people = [{"name": f"Ana {i}", "amount": "100"} for i in range(contacts)]
    settings = {"flow_file": FLOW, "company": "Gas Sur", "currency": "ARS", "retries": {"max_attempts": 1},
                "prompts": {"es": SHORT},
                "transfer": {"queue": queue, "timeout_s": LIMIT_S, "pacing": pacing, "probability": 0.5,
                             "answer_to_transfer_s": 5}}  # fmt: skip
    return make_campaign(url, name, numbers, people=people, flow="collections", settings=settings,
                         max_concurrent=CAP, calls_per_second=5, ring_timeout_s=10)  # fmt: skip


async def follow(ami: AmiClient, talk: dict[str, float], stop: asyncio.Event) -> None:
    with ami.events(["AgentComplete"]) as stream:
        while not stop.is_set():
            try:
                e = await stream.get(0.5)
            except asyncio.TimeoutError:
                continue
            talk[str(e.get("Queue"))] = talk.get(str(e.get("Queue")), 0.0) + float(e.get("TalkTime") or 0)


def figures(url: str, cid: int, talk_s: float, began: float) -> dict[str, Any]:
    rows = attempts(url, cid)
    transfers = [a for a in rows if a.outcome is not None and a.outcome.value == "transferred"]
    abandoned = [a for a in transfers if not a.details.get("agent_answered")]
    waits = sorted(float(a.details.get("queue_wait_s") or 0) for a in transfers)
    ends = [a.ended_at for a in rows if a.ended_at is not None]
    first = min(a.created_at for a in rows)
    minutes = max((max(ends) - first).total_seconds(), 1) / 60 if ends else float("nan")
    return {"transfers": len(transfers), "abandoned": len(abandoned),
            "abandon_pct": 100 * len(abandoned) / max(1, len(transfers)),
            "occupancy_pct": 100 * talk_s / (AGENTS * minutes * 60),
            "wait_p50": percentile(waits, 50) if waits else None, "wait_p95": percentile(waits, 95) if waits else None,
            "per_min": len(ends) / minutes, "minutes": minutes}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=100)
    ap.add_argument("--ami-port", type=int, default=int(os.environ.get("DIALER_TEST_AMI_PORT", "15038")))
    ap.add_argument("--agi-port", type=int, default=int(os.environ.get("DIALER_TEST_AGI_PORT", "14573")))
    args = ap.parse_args()
    sandbox = Sandbox("sid", args.ami_port, args.agi_port)
    started_here = sandbox.pid() is None
    sandbox.up()
    try:
        run(sandbox, args.contacts)
    finally:
        if started_here:
            sandbox.down()


def run(sandbox: Sandbox, contacts: int) -> None:
    import tempfile

    url = new_database(str(Path(tempfile.mkdtemp(prefix="queue-bench-")) / "b.db"))
    fixed = campaign(url, "fixed-cap", "floor1", "cap", contacts, 1000)
    paced = campaign(url, "queue-paced", "floor2", "queue", contacts, 3000)
    repo = Repository(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=10),
                    IvrHost(repo.sessions, sandbox.agi))  # fmt: skip
    talk: dict[str, float] = {}
    shape = FloorShape(agents=AGENTS, talk_s=TALK_S)

    async def go() -> float:
        async with Floor(sandbox.ami, "floor1", shape), Floor(sandbox.ami, "floor2", shape), \
                AmiClient(sandbox.ami) as ami:  # fmt: skip
            stop = asyncio.Event()
            follower = asyncio.ensure_future(follow(ami, talk, stop))
            began = time.monotonic()
            await engine.run_until_finished([fixed, paced], timeout=1800)
            stop.set()
            await follower
            return time.monotonic() - began

    elapsed = asyncio.run(go())
    print(f"{contacts} contacts per campaign, half ask for an agent; {AGENTS} agents each, talk {TALK_S[0]}-{TALK_S[1]} s "
          f"(scaled 1/5), wait limit {LIMIT_S} s; run {elapsed:.0f} s")  # fmt: skip
    print(f"{'':14}{'transfers':>10}{'abandoned':>10}{'abandon %':>10}{'occupancy %':>12}{'wait p50':>9}"
          f"{'wait p95':>9}{'finished/min':>13}")  # fmt: skip
    for name, cid, queue in (("fixed cap 20", fixed, "floor1"), ("queue pacing", paced, "floor2")):
        f = figures(url, cid, talk.get(queue, 0.0), 0.0)
        print(f"{name:14}{f['transfers']:>10}{f['abandoned']:>10}{f['abandon_pct']:>10.1f}{f['occupancy_pct']:>12.0f}"
              f"{f['wait_p50'] or 0:>9.1f}{f['wait_p95'] or 0:>9.1f}{f['per_min']:>13.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
