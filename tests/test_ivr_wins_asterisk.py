"""Issue 12, item 1 against the sandbox: an outcome the IVR reports always wins.

Three daemons' engines run side by side, each with its own database and FastAGI server; the AMI
link of two of them goes through a relay the test cuts (Asterisk keeps running):
- ringing: the link drops while the calls ring and is back before they answer, so resync finds
  them Ringing; the answer is known only from Newstate Up (and the IVR's own report);
- gone: the link drops while the calls are in the IVR and comes back after they hung up, so
  resync finds them gone: only the in-daemon FastAGI knows how they ended;
- drain: the daemon stops while callers are still listening to the menu: at the drain deadline
  the channels are hung up through AMI and the IVR's report so far is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialer.ami import AmiClient
from dialer.config import AgiSettings, AmiSettings, EngineSettings
from dialer.domain import AttemptState, CampaignState, DialResult, Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Attempt, Dnc
from dialer.storage.repository import Repository
from tests.campaigns import STOP_FLOW, attempts, campaign_row, free_port, make_campaign, new_database, scripted
from tests.tcp_proxy import LinkCutter

pytestmark = pytest.mark.asterisk

SETTINGS = {"flow_file": STOP_FLOW, "company": "Test", "retries": {"max_attempts": 1}}


async def channels(ami: AmiClient) -> dict[str, tuple[str, str]]:
    """Asterisk's channels right now: Uniqueid -> (state, application)."""
    found = await ami.action_list({"Action": "CoreShowChannels"}, timeout=10)
    return {str(c.get("Uniqueid")): (str(c.get("ChannelStateDesc")), str(c.get("Application"))) for c in found}


async def until(check: Callable[[], Any], what: str, timeout: float = 30) -> None:
    """Poll `check` (a function, or a coroutine function) until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await check() if asyncio.iscoroutinefunction(check) else check()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


class Scenario:
    """One engine on its own database, FastAGI port and (optionally) cuttable AMI link."""

    def __init__(self, sandbox: Sandbox, tmp: Path, name: str, numbers: list[str], cuttable: bool) -> None:
        self.url = new_database(str(tmp / f"{name}.db"))
        self.cid = make_campaign(self.url, name, numbers, flow="collections", settings=SETTINGS,
                                 max_concurrent=len(numbers), calls_per_second=20, ring_timeout_s=15)  # fmt: skip
        self.sandbox, self.tmp, self.name, self.cuttable = sandbox, tmp, name, cuttable
        self.link: LinkCutter | None = None
        self.notes: dict[str, Any] = {}

    async def engine(self, drain_timeout_s: float = 5) -> Engine:
        ami = self.sandbox.ami
        if self.cuttable:
            self.link = await LinkCutter(ami.host, ami.port).start()
            ami = AmiSettings(port=self.link.port, username=ami.username, secret=ami.secret)
        agi = AgiSettings(port=free_port())
        repo = Repository(db.session_factory(db.make_engine(self.url)))
        settings = EngineSettings(agi_url=agi.url, poll_s=0.2, drain_timeout_s=drain_timeout_s, reconnect_max_s=1,
                                  journal=self.tmp / f"{self.name}.journal")  # fmt: skip
        return Engine(repo, ami, settings, IvrHost(repo.sessions, agi))

    def ids(self) -> set[str]:
        return {a.id for a in attempts(self.url, self.cid)}


async def ringing(s: Scenario, ami: AmiClient) -> None:
    """Cut the link while every call rings; it is back (and resynced) before they answer."""
    engine = await s.engine()
    run = asyncio.ensure_future(engine.run_until_finished([s.cid], timeout=90))

    async def all_ringing() -> bool:
        now = await channels(ami)
        return len(s.ids()) == 2 and all(now.get(i, ("",))[0] == "Ringing" for i in s.ids())

    await until(all_ringing, "both calls to ring")
    assert s.link is not None
    await s.link.cut()
    await until(lambda: not engine._ready.is_set(), "the engine to see the link drop")
    await s.link.restore()
    await until(engine._ready.is_set, "the engine to reconnect and resync")
    now = await channels(ami)
    s.notes["after_resync"] = sorted(now[i][0] for i in s.ids())
    s.notes["tracked_states"] = sorted(engine.tracker.calls[i].state.value for i in s.ids() if i in engine.tracker.calls)
    await run


async def gone(s: Scenario, ami: AmiClient) -> None:
    """Cut the link while the calls are in the IVR; restore it once Asterisk has none of them."""
    engine = await s.engine()
    run = asyncio.ensure_future(engine.run_until_finished([s.cid], timeout=90))

    async def all_in_ivr() -> bool:
        now = await channels(ami)
        return len(s.ids()) == 3 and all(now.get(i, ("", ""))[1] == "AGI" for i in s.ids())

    await until(all_in_ivr, "the three calls to reach the IVR")
    assert s.link is not None
    await s.link.cut()

    async def none_left() -> bool:
        return not (s.ids() & set(await channels(ami)))

    await until(none_left, "the calls to end with the link down", 60)
    s.notes["live_in_sql_while_down"] = sum(1 for a in attempts(s.url, s.cid) if a.state != AttemptState.ENDED)
    await s.link.restore()
    await run


async def drain(s: Scenario, ami: AmiClient) -> None:
    """Stop the daemon while two callers listen to the menu and a third phone still rings; the
    drain deadline is 1 s."""
    engine = await s.engine(drain_timeout_s=1)
    stop = asyncio.Event()
    run = asyncio.ensure_future(engine.run(stop))

    async def in_menu() -> bool:
        now = await channels(ami)
        return len(s.ids()) == 3 and sorted(now.get(i, ("", ""))[1] for i in s.ids()) == ["AGI", "AGI", "AppDial2"]

    await until(in_menu, "two callers in the IVR, one phone ringing")
    await asyncio.sleep(2)  # AMD is done and the menu plays
    stop.set()
    await asyncio.wait_for(run, 30)
    s.notes["left_in_asterisk"] = sorted(s.ids() & set(await channels(ami)))


@pytest.fixture(scope="module")
def runs(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    tmp = tmp_path_factory.mktemp("ivr-wins")
    scenarios = {
        "ringing": Scenario(sandbox, tmp, "ringing", [scripted(sandbox, 201, ["9"], ring_s=4),
                                                      scripted(sandbox, 202, ["1"], ring_s=4)], cuttable=True),
        "gone": Scenario(sandbox, tmp, "gone", [scripted(sandbox, 211, ["9"]), scripted(sandbox, 212, ["1"]),
                                                scripted(sandbox, 213, ["1"], hang_up=True)], cuttable=True),
        "drain": Scenario(sandbox, tmp, "drain", [scripted(sandbox, 221, []), scripted(sandbox, 222, []),
                                                  scripted(sandbox, 223, ["1"], ring_s=9)], cuttable=False),
    }  # fmt: skip

    async def main() -> None:
        async with AmiClient(sandbox.ami) as ami:  # the test's own view of Asterisk, never cut
            await asyncio.gather(ringing(scenarios["ringing"], ami), gone(scenarios["gone"], ami),
                                 drain(scenarios["drain"], ami))  # fmt: skip
        for s in scenarios.values():
            if s.link is not None:
                await s.link.stop()

    asyncio.run(main())
    return scenarios


def by_outcome(s: Scenario) -> dict[Outcome | None, Attempt]:
    return {a.outcome: a for a in attempts(s.url, s.cid)}


def dnc_numbers(s: Scenario) -> set[str]:
    engine = db.make_engine(s.url)
    with db.session_factory(engine)() as session:
        found = {d.number for d in session.query(Dnc)}
    engine.dispose()
    return found


def facts(s: Scenario, attempt: Attempt) -> dict[str, str | None]:
    sessions = db.session_factory(db.make_engine(s.url))
    return {e.name: e.value for e in events_of(sessions, attempt.id) if e.kind == "fact"}


def test_a_call_answered_after_a_resync_that_found_it_ringing_keeps_its_ivr_outcome(
        runs: dict[str, Scenario]) -> None:  # fmt: skip
    s = runs["ringing"]
    assert s.link is not None and s.link.cuts == 1
    assert s.notes["after_resync"] == ["Ringing", "Ringing"]  # resync saw them ringing, not Up
    assert s.notes["tracked_states"] == ["originating", "originating"]
    got = by_outcome(s)
    assert set(got) == {Outcome.OPTED_OUT, Outcome.ANSWERED}, [(a.outcome, a.reason) for a in got.values()]
    assert all(a.answered_at is not None and a.answered_at < a.ended_at for a in got.values())  # type: ignore[operator]
    assert dnc_numbers(s) == {got[Outcome.OPTED_OUT].number}
    assert facts(s, got[Outcome.OPTED_OUT])["choice"] == "stop"
    assert campaign_row(s.url, s.cid).state == CampaignState.FINISHED


def test_calls_that_end_while_ami_is_down_keep_what_the_fastagi_server_knew(runs: dict[str, Scenario]) -> None:
    s = runs["gone"]
    assert s.notes["live_in_sql_while_down"] == 3  # nothing was recorded until the link came back
    got = by_outcome(s)
    assert set(got) == {Outcome.OPTED_OUT, Outcome.ANSWERED, Outcome.HUNG_UP_EARLY}, [
        (a.outcome, a.reason) for a in got.values()]  # fmt: skip
    assert got[Outcome.HUNG_UP_EARLY].step_reached == "thanks"
    assert all(a.reason == "reported by the IVR" and a.answered_at is not None for a in got.values())
    assert dnc_numbers(s) == {got[Outcome.OPTED_OUT].number}
    assert facts(s, got[Outcome.ANSWERED])["choice"] == "pay"
    assert campaign_row(s.url, s.cid).state == CampaignState.FINISHED


def test_at_the_drain_deadline_calls_are_hung_up_and_the_ivr_report_so_far_is_recorded(
        runs: dict[str, Scenario]) -> None:  # fmt: skip
    s = runs["drain"]
    assert s.notes["left_in_asterisk"] == []  # no live channel outlives the daemon's slot
    rows = attempts(s.url, s.cid)
    assert len(rows) == 3
    sessions = db.session_factory(db.make_engine(s.url))
    listened = [a for a in rows if a.outcome is not None]
    assert len(listened) == 2
    for a in listened:
        assert (a.state, a.outcome, a.step_reached) == (AttemptState.ENDED, Outcome.HUNG_UP_EARLY, "menu"), a.reason
        assert "the dialer hung up: still live at the drain deadline (1 s)" in (a.reason or "")
        assert a.answered_at is not None and a.q850_cause is not None
        events = [(e.kind, e.name, e.value) for e in events_of(sessions, a.id)]
        assert events[:3] == [("step", "amd", None), ("fact", "amd", "HUMAN"), ("step", "menu", None)]
    (rang,) = [a for a in rows if a.outcome is None]
    assert (rang.dial_result, rang.answered_at) == (DialResult.NO_ANSWER, None)
    assert "the dialer hung up: still live at the drain deadline (1 s)" in (rang.reason or "")
