"""Engine fault injection with a scripted AMI peer: SQL trouble must not leak cap slots; an outcome the
IVR reports wins over AMI-derived state; an ending is never lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from dialer.config import AmiSettings, EngineSettings
from dialer.domain import AttemptState, DialResult, Outcome
from dialer.engine import Engine, daemon
from dialer.ivr.call import CallReport, IvrEventRow
from dialer.storage import db
from dialer.storage.claims import Plan
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Dnc
from dialer.storage.repository import Repository
from tests.campaigns import attempts, contacts, make_campaign, new_database
from tests.fake_ami import FakeAmi


def core_show_channels(_action: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"Response": "Success", "EventList": "start", "Message": "Channels will follow"},
        {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "0"},
    ]


def busy(action: dict[str, str]) -> list[dict[str, Any]]:
    uid = action["ChannelId"]
    return [
        {"Response": "Success", "Message": "Originate successfully queued"},
        {"__event__": True, "Event": "Hangup", "Uniqueid": uid, "Cause": "17"},
        {"Event": "OriginateResponse", "Response": "Failure", "Reason": "5", "Uniqueid": uid},
    ]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi(secret="dialer-sandbox-secret").start()
    server.script["CoreShowChannels"] = core_show_channels
    server.script["Originate"] = busy
    yield server
    await server.stop()


class FlakyClaims(Repository):
    """The first two claims fail as a locked SQLite database would."""

    failures = 2

    def claim(self, campaign_id: int, limit: int, now: Any = None, **kwargs: Any) -> list[Plan]:
        if self.failures:
            self.failures -= 1
            raise OperationalError("claim", {}, Exception("database is locked"))
        return super().claim(campaign_id, limit, now, **kwargs)


async def test_failed_claims_give_their_slots_back_and_the_campaign_finishes(fake: FakeAmi, tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "flaky", [f"+3464000{i:04d}" for i in range(10)], max_concurrent=2,
                        calls_per_second=100, trunk_template="Local/{number}@x")  # fmt: skip
    repo = FlakyClaims(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, AmiSettings(port=fake.port), EngineSettings(poll_s=0.05, trunk_caps={"Local/{number}@x": 2}))
    await engine.run_until_finished([cid], timeout=20)
    assert repo.failures == 0
    rows = attempts(url, cid)
    assert len(rows) == 10 and {a.dial_result for a in rows} == {DialResult.BUSY}
    assert {a.q850_cause for a in rows} == {17}
    assert engine._campaign_slots[cid].used == 0
    assert engine._trunk_slots["Local/{number}@x"].used == 0
    assert len(fake.actions("Originate")) == 10  # each attempt sent once


# -- issue 12: an outcome the IVR reports wins; SQL trouble never loses an ending ------------
def channel_list(live: dict[str, str]) -> Callable[[dict[str, str]], list[dict[str, str]]]:
    """CoreShowChannels answering with the channels in `live` (Uniqueid -> state), as they are then."""

    def reply(_action: dict[str, str]) -> list[dict[str, str]]:
        rows = [{"Event": "CoreShowChannel", "Uniqueid": uid, "ChannelStateDesc": state, "Application": "AppDial2"}
                for uid, state in live.items()]  # fmt: skip
        return [{"Response": "Success", "EventList": "start", "Message": "Channels will follow"}, *rows,
                {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": str(len(rows))}]  # fmt: skip

    return reply


async def until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def one_call_cut_while_ringing(fake: FakeAmi, tmp_path: Path) -> tuple[str, int, Engine, asyncio.Task[None], str]:
    """One contact; its Originate is in flight when the link drops; resync finds it Ringing."""
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "cut", ["+34640000001"], render=False, trunk_template="Local/{number}@x")
    live: dict[str, str] = {}
    fake.script["CoreShowChannels"] = channel_list(live)

    def drop_the_link(action: dict[str, str]) -> str:
        live[action["ChannelId"]] = "Ringing"  # the call goes out and rings...
        return "close"  # ...and the AMI connection drops with the Originate in flight

    fake.script["Originate"] = drop_the_link
    repo = Repository(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, AmiSettings(port=fake.port), EngineSettings(poll_s=0.05, reconnect_max_s=0.2,
                                                                      journal=tmp_path / "journal"))  # fmt: skip
    run = asyncio.ensure_future(engine.run_until_finished([cid], timeout=20))
    await until(lambda: bool(fake.actions("Originate")))
    uid = fake.actions("Originate")[0]["ChannelId"]
    await until(lambda: len(fake.actions("CoreShowChannels")) >= 2 and engine._ready.is_set())
    return url, cid, engine, run, uid


async def test_newstate_up_after_a_resync_marks_the_answer_and_the_ivr_outcome_wins(
    fake: FakeAmi, tmp_path: Path
) -> None:
    url, cid, engine, run, uid = await one_call_cut_while_ringing(fake, tmp_path)
    assert engine.tracker.calls[uid].state == AttemptState.ORIGINATING
    await fake.send_event({"Event": "Newstate", "Uniqueid": uid, "ChannelStateDesc": "Up"})
    await until(lambda: attempts(url, cid)[0].state == AttemptState.ANSWERED)  # followed, and written
    # a process AGI script reports through the dialplan's h extension (DialerEnd)
    await fake.send_event({"Event": "UserEvent", "UserEvent": "DialerEnd", "Attempt": uid, "Cause": "16",
                           "Outcome": "opted_out", "Step": "", "Details": ""})  # fmt: skip
    await fake.send_event({"Event": "Hangup", "Uniqueid": uid, "Cause": "16"})
    await run
    (a,) = attempts(url, cid)
    assert (a.outcome, a.reason, a.q850_cause) == (Outcome.OPTED_OUT, "reported by the IVR", 16)
    assert a.answered_at is not None
    with db.session_factory(db.make_engine(url))() as s:
        assert s.get(Dnc, a.number) is not None


async def test_an_originate_response_seen_after_a_reconnect_gives_the_dial_result(fake: FakeAmi, tmp_path: Path) -> None:
    url, cid, _engine, run, uid = await one_call_cut_while_ringing(fake, tmp_path)
    await fake.send_event({"Event": "Hangup", "Uniqueid": uid, "Cause": "17"})
    await fake.send_event({"Event": "OriginateResponse", "ActionID": "an-earlier-session", "Response": "Failure",
                           "Reason": "5", "Uniqueid": uid})  # fmt: skip
    await run
    (a,) = attempts(url, cid)
    assert (a.dial_result, a.outcome, a.q850_cause) == (DialResult.BUSY, None, 17)


async def test_drain_deadline_with_ami_down_records_the_ivr_report_so_far(fake: FakeAmi, tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "down", ["+34640000001"], render=False, trunk_template="Local/{number}@x")
    fake.script["Originate"] = lambda a: [{"Response": "Success", "Message": "Originate successfully queued"},
                                          {"Event": "OriginateResponse", "Response": "Success", "Reason": "4",
                                           "Uniqueid": a["ChannelId"]}]  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, AmiSettings(port=fake.port), EngineSettings(poll_s=0.05, drain_timeout_s=0.2,
                                                                      journal=tmp_path / "journal"))  # fmt: skip
    stop = asyncio.Event()
    run = asyncio.ensure_future(engine.run(stop))
    await until(lambda: any(c.state == AttemptState.ANSWERED for c in engine.tracker.calls.values()))
    (call,) = engine.tracker.calls.values()
    at = datetime.now(UTC)
    call.ivr_report = CallReport(step="menu", details={"amd": "HUMAN"}, events=[  # an IVR session at the menu
        IvrEventRow(1, at, "step", "amd"), IvrEventRow(2, at, "fact", "amd", "HUMAN"), IvrEventRow(3, at, "step", "menu")])
    await fake.stop()  # AMI gone: nothing can be hung up
    stop.set()
    await asyncio.wait_for(run, 10)
    (a,) = attempts(url, cid)
    assert (a.outcome, a.step_reached, a.details) == (Outcome.HUNG_UP_EARLY, "menu", {"amd": "HUMAN"})
    assert "still live at the drain deadline (0.2 s)" in (a.reason or "") and "hanging it up failed" in (a.reason or "")
    sessions = db.session_factory(db.make_engine(url))
    assert [(e.kind, e.name) for e in events_of(sessions, a.id)] == [("step", "amd"), ("fact", "amd"), ("step", "menu")]


async def test_an_attempt_of_this_run_that_no_call_tracks_is_swept(fake: FakeAmi, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(daemon, "SWEEP_MIN_AGE_S", 0.0)
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "swept", ["+34640000001"], render=False, trunk_template="Local/{number}@x")
    repo = Repository(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, AmiSettings(port=fake.port), EngineSettings(poll_s=0.05, sweep_every_s=0.1,
                                                                      journal=tmp_path / "journal"))  # fmt: skip
    await engine.start()
    (plan,) = repo.claim(cid, 1, token="t")  # committed and confirmed, but its call task never came
    repo.confirm_claim("t")  # (its ending was lost)
    await until(lambda: attempts(url, cid)[0].state == AttemptState.ENDED)
    await engine.drain()
    (a,) = attempts(url, cid)
    assert (a.id, a.outcome) == (plan.attempt_id, Outcome.UNKNOWN)
    assert a.reason == "no call of this run tracked it any more (its ending was lost)"
    assert contacts(url, cid)[0].live_attempt_id is None
