"""Engine fault injection with a scripted AMI peer: SQL trouble must not leak cap slots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from dialer.config import AmiSettings, EngineSettings
from dialer.domain import DialResult
from dialer.engine import Engine
from dialer.storage import db
from dialer.storage.claims import Plan
from dialer.storage.repository import Repository
from tests.campaigns import attempts, make_campaign, new_database
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
