"""The engine against the sandbox: dial results, caps counted from AMI, CPS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialer.ami import AmiClient
from dialer.config import EngineSettings
from dialer.domain import AttemptState, CampaignState, DialResult, Disposition, Outcome
from dialer.engine import Engine
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository
from tests.campaigns import attempts, campaign_row, contacts, make_campaign, new_database

pytestmark = pytest.mark.asterisk


def engine_for(url: str, sandbox: Sandbox, trunk_caps: dict[str, int] | None = None) -> Engine:
    repo = Repository(db.session_factory(db.make_engine(url)))
    settings = EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5, trunk_caps=trunk_caps or {})
    return Engine(repo, sandbox.ami, settings)


def peak_live(watcher: list[tuple[float, str, str]], ids: set[str]) -> int:
    live: set[str] = set()
    peak = 0
    for _t, name, uid in watcher:
        if uid in ids:
            (live.add if name == "Newchannel" else live.discard)(uid)
            peak = max(peak, len(live))
    return peak


@pytest.fixture
async def watcher(sandbox: Sandbox) -> AsyncIterator[list[tuple[float, str, str]]]:
    """(time, event, uniqueid) of every Newchannel and Hangup Asterisk reports: the truth."""
    seen: list[tuple[float, str, str]] = []
    async with AmiClient(sandbox.ami) as ami:
        with ami.events(["Newchannel", "Hangup"]) as stream:

            async def pump() -> None:
                loop = asyncio.get_running_loop()
                while True:
                    e = await stream.get(3600)
                    seen.append((loop.time(), str(e["Event"]), str(e["Uniqueid"])))

            task = asyncio.create_task(pump())
            yield seen
            task.cancel()


async def test_every_dial_result_is_recorded_exactly(sandbox: Sandbox, tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    expected = {
        sim_number("busy"): (DialResult.BUSY, None),
        sim_number("congestion"): (DialResult.CONGESTION, None),
        sim_number("no_answer"): (DialResult.NO_ANSWER, None),
        sim_number("invalid"): (DialResult.INVALID_NUMBER, None),
        sim_number("machine"): (None, Outcome.MACHINE),
        sim_number("human"): (None, Outcome.HUNG_UP_EARLY),  # no IVR yet: the flow cannot complete
        sim_number("hangup", hangup_after_s=1): (None, Outcome.HUNG_UP_EARLY),
    }
    cid = make_campaign(url, "results", list(expected), max_concurrent=10, calls_per_second=20, ring_timeout_s=4)
    await engine_for(url, sandbox).run_until_finished([cid], timeout=60)
    rows = attempts(url, cid)
    assert len(rows) == len(expected)
    got = {a.number: (a.dial_result, a.outcome) for a in rows}
    assert got == expected
    assert all(a.state == AttemptState.ENDED and a.reason and a.ended_at for a in rows)
    by_number = {a.number: a for a in rows}
    assert by_number[sim_number("invalid")].q850_cause == 1
    assert by_number[sim_number("machine")].details == {"message_left": False}
    assert by_number[sim_number("hangup", hangup_after_s=1)].step_reached == "amd"
    assert by_number[sim_number("human")].step_reached == "ivr"
    assert campaign_row(url, cid).state == CampaignState.FINISHED
    assert {c.disposition for c in contacts(url, cid)} == {Disposition.EXHAUSTED, Disposition.REACHED}


async def test_live_calls_never_exceed_the_cap(
    sandbox: Sandbox, tmp_path: Path, watcher: list[tuple[float, str, str]]
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    numbers = [sim_number("hangup", hangup_after_s=1, tag=i) for i in range(60)]
    cid = make_campaign(url, "cap", numbers, max_concurrent=5, calls_per_second=100)
    await engine_for(url, sandbox).run_until_finished([cid], timeout=120)
    ids = {a.id for a in attempts(url, cid)}
    assert len(ids) == 60
    assert peak_live(watcher, ids) == 5  # the cap is reached, and never passed


async def test_a_trunk_cap_holds_across_campaigns(
    sandbox: Sandbox, tmp_path: Path, watcher: list[tuple[float, str, str]]
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    template = "Local/{number}@sim-customers"
    cids = [
        make_campaign(url, f"trunk-{k}", [sim_number("hangup", hangup_after_s=1, tag=10 * k + i) for i in range(6)],
                      max_concurrent=5, calls_per_second=100, trunk_template=template)  # fmt: skip
        for k in range(2)
    ]
    await engine_for(url, sandbox, trunk_caps={template: 3}).run_until_finished(cids, timeout=60)
    ids = {a.id for cid in cids for a in attempts(url, cid)}
    assert len(ids) == 12
    assert peak_live(watcher, ids) == 3


async def test_calls_per_second_cap(sandbox: Sandbox, tmp_path: Path, watcher: list[tuple[float, str, str]]) -> None:
    url = new_database(str(tmp_path / "d.db"))
    numbers = [sim_number("busy", tag=i) for i in range(16)]
    cid = make_campaign(url, "cps", numbers, max_concurrent=50, calls_per_second=5)
    await engine_for(url, sandbox).run_until_finished([cid], timeout=60)
    ids = {a.id for a in attempts(url, cid)}
    starts = sorted(t for t, name, uid in watcher if name == "Newchannel" and uid in ids)
    assert len(starts) == 16
    # rate 5/s with a burst of 1: any 1-second window holds at most 5 + 1 originates
    assert max(sum(1 for u in starts if s <= u < s + 1.0) for s in starts) <= 6
    assert starts[-1] - starts[0] >= (16 - 2) / 5


def set_state(url: str, campaign_id: int, state: CampaignState) -> None:
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.state = state
    engine.dispose()


async def test_pause_stops_originating_within_a_second_and_resume_finishes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "pause", [sim_number("hangup", hangup_after_s=1, tag=i) for i in range(12)],
                        max_concurrent=2, calls_per_second=20)  # fmt: skip
    engine = engine_for(url, sandbox)
    stop = asyncio.Event()
    run = asyncio.create_task(engine.run(stop))
    while len(attempts(url, cid)) < 2:
        await asyncio.sleep(0.1)
    set_state(url, cid, CampaignState.PAUSED)
    await asyncio.sleep(1.5)  # the engine reads campaign states every 0.2 s here (1 s by default)
    paused_at = len(attempts(url, cid))
    await asyncio.sleep(2.5)
    assert len(attempts(url, cid)) == paused_at < 12  # nothing new while paused
    set_state(url, cid, CampaignState.ACTIVE)
    deadline = asyncio.get_running_loop().time() + 60
    while campaign_row(url, cid).state != CampaignState.FINISHED:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(run, 30)
    rows = attempts(url, cid)
    assert len(rows) == 12 and all(a.state == AttemptState.ENDED for a in rows)
