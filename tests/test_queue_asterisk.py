"""Queue pacing, whisper and screen-pop against the sandbox Asterisk: simulated agents shaped over
AMI (dialer.sandbox.agents), simulated humans who press 2 for an agent, the engine in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dialer.ami import AmiClient
from dialer.config import EngineSettings
from dialer.domain import Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.engine.pacing import Slots
from dialer.engine.queue_watch import QUEUE_EVENTS, QueueWatch
from dialer.engine.tracker import CallTracker
from dialer.reports.transfers import transfer_summary
from dialer.sandbox.agents import Floor, FloorShape
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository
from tests.campaigns import attempts, make_campaign, new_database

pytestmark = pytest.mark.queue

AGENT_FLOW = str(Path(__file__).resolve().parent / "flows" / "agent.toml")
CALLERS, AGENTS = 8, 2
SHORT = {"collections_menu": "Pulse dos.", "transfer_wait": "Un momento.", "goodbye": "Adiós.",
         "agent_whisper": "{name}, {amount}."}  # fmt: skip


class Captured:
    """An event sink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        self.events.append((kind, payload))


async def _listen(ami: AmiClient, seen: list[dict[str, Any]], stop: asyncio.Event) -> None:
    with ami.events([*QUEUE_EVENTS, "UserEvent"]) as stream:
        while not stop.is_set():
            try:
                seen.append(dict(await stream.get(0.5)))
            except asyncio.TimeoutError:
                continue


@pytest.fixture(scope="module")
def floor_run(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One engine run: 8 callers who all ask for an agent, 2 agents (3-4 s talk, 1 s wrap-up)."""
    url = new_database(str(tmp_path_factory.mktemp("queue") / "q.db"))
    numbers = [sim_number("human", answers=["2"], tag=i + 1) for i in range(CALLERS)]
    people = [{"name": f"Ana {i}", "amount": str(1000 + i)} for i in range(CALLERS)]
    settings = {"flow_file": AGENT_FLOW, "company": "Gas Sur", "currency": "ARS", "retries": {"max_attempts": 1},
                "prompts": {"es": SHORT},
                "transfer": {"queue": "floor1", "timeout_s": 20, "probability": 0.9, "answer_to_transfer_s": 6}}  # fmt: skip
    cid = make_campaign(url, "paced", numbers, people=people, flow="collections", settings=settings,
                        max_concurrent=10, calls_per_second=5, ring_timeout_s=10)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    sink = Captured()
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5),
                    IvrHost(repo.sessions, sandbox.agi), events=sink)  # fmt: skip
    seen: list[dict[str, Any]] = []
    limits: list[int] = []

    async def main() -> None:
        async with Floor(sandbox.ami, "floor1", FloorShape(agents=AGENTS, talk_s=(3, 4), wrapup_s=1)), \
                AmiClient(sandbox.ami) as ami:  # fmt: skip
            stop = asyncio.Event()
            listener = asyncio.ensure_future(_listen(ami, seen, stop))
            run = asyncio.ensure_future(engine.run_until_finished([cid], timeout=150))
            while not run.done():
                paced = engine.queues.campaigns.get(cid) if hasattr(engine, "queues") else None
                if paced is not None:
                    limits.append(paced.limit)
                await asyncio.sleep(0.2)
            await run
            stop.set()
            await listener

    asyncio.run(main())
    with repo.sessions() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        from datetime import UTC, datetime

        summary = transfer_summary(s, campaign, datetime.now(UTC))
    return {"attempts": attempts(url, cid), "seen": seen, "sink": sink.events, "limits": limits,
            "summary": summary, "people": people}  # fmt: skip


def test_pacing_never_lets_more_callers_wait_than_agents_can_take(floor_run: dict[str, Any]) -> None:
    done = floor_run["attempts"]
    assert len(done) == CALLERS
    assert all(a.outcome == Outcome.TRANSFERRED and a.details["agent_answered"] for a in done), \
        [(a.outcome, a.details) for a in done]  # fmt: skip
    waiting, most = set(), 0
    for e in floor_run["seen"]:
        if e.get("Queue") != "floor1":
            continue
        if e["Event"] == "QueueCallerJoin":
            waiting.add(e["Uniqueid"])
        elif e["Event"] in ("QueueCallerLeave", "QueueCallerAbandon", "AgentConnect"):
            waiting.discard(e["Uniqueid"])
        most = max(most, len(waiting))
    assert most <= AGENTS
    assert max(floor_run["limits"]) < 10  # the agents set the pace, below the campaign's cap of 10
    summary = floor_run["summary"]
    assert summary["requests"] == CALLERS and summary["abandoned"] == 0
    assert summary["abandon_rate_30d_pct"] == 0.0 and summary["within_target"] is True


def test_the_whisper_plays_to_the_agent_before_the_bridge(floor_run: dict[str, Any]) -> None:
    heard: dict[str, list[str]] = {}  # agent extension -> what it heard, in order, until its next connect
    connects = 0
    for e in floor_run["seen"]:
        if e["Event"] == "UserEvent" and e.get("UserEvent") == "SimAgent":
            heard.setdefault(str(e["Agent"]), []).append(str(e["Heard"]))
        elif e["Event"] == "AgentConnect" and e.get("Queue") == "floor1":
            agent = str(e["Interface"]).split("/")[1].split("@")[0]
            assert heard.get(agent) and heard[agent].pop() == "NOISE", f"{agent} connected before it heard a whisper"
            connects += 1
    assert connects == CALLERS


def test_the_screen_pop_carries_the_contact_and_the_agent(floor_run: dict[str, Any]) -> None:
    pops = [p for kind, p in floor_run["sink"] if kind == "screen_pop"]
    assert len(pops) == CALLERS
    names = {p["name"] for p in pops}
    assert names == {person["name"] for person in floor_run["people"]}
    for p in pops:
        assert p["fields"] == {"amount": str(1000 + int(p["name"].split()[1]))}
        assert p["key_path"] == "menu:2" and p["promise"] is None
        assert p["agent_interface"].startswith("Local/8") and p["agent_name"].startswith("sim-agent-")
        assert p["queue"] == "floor1" and p["contact_id"] and p["external_id"].startswith("C")


async def test_a_paused_agent_reduces_the_pace(sandbox: Sandbox) -> None:
    async with Floor(sandbox.ami, "floor2", FloorShape(agents=3, talk_s=(3, 4))) as floor, \
            AmiClient(sandbox.ami) as ami:  # fmt: skip
        watch = QueueWatch(ami, CallTracker())
        slots = Slots(20)
        with ami.events(QUEUE_EVENTS) as stream:
            watch.pace(1, "floor2", 20, slots, {"transfer": {"probability": 0.5}})
            await watch.snapshot("floor2")
            assert watch.agents("floor2").free == 3 and slots.limit == 6
            await floor.pause(2)
            paused = await stream.wait_for(lambda e: e.get("Event") == "QueueMemberPause", 10)
            watch.feed(paused)
            assert watch.agents("floor2").free == 2 and slots.limit == 4
            await floor.pause(2, paused=False)
            back = await stream.wait_for(lambda e: e.get("Event") == "QueueMemberPause", 10)
            watch.feed(back)
            assert slots.limit == 6
