"""A silent node's Asterisk is asked which of its calls are gone only where its address reaches it:
a loopback address in another machine's node row is this machine's own Asterisk, whose answer
would say every one of the dead node's calls is gone while they may still be up."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dialer.config import AmiSettings, EngineSettings
from dialer.domain import AttemptState, CampaignState, Outcome
from dialer.engine.node import NodeKeeper
from dialer.storage import db
from dialer.storage.models import Attempt, Campaign, Contact, Phone
from dialer.storage.nodes import DeadNode
from dialer.storage.repository import Repository
from tests.fake_ami import FakeAmi

LIVE = ["a1", "a2"]  # the dead node's attempts SQL still has as live


def channels(_action: dict[str, str]) -> list[dict[str, str]]:
    """This Asterisk has a2 only."""
    return [{"Response": "Success", "EventList": "start", "Message": "Channels will follow"},
            {"Event": "CoreShowChannel", "Uniqueid": "a2", "ChannelStateDesc": "Up"},
            {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": "1"}]  # fmt: skip


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi(secret="dialer-sandbox-secret").start()
    server.script["CoreShowChannels"] = channels
    yield server
    await server.stop()


def keeper(port: int) -> NodeKeeper:
    settings, ami = EngineSettings(), AmiSettings(port=port)
    return NodeKeeper(None, ami, settings, None, lambda: 0)  # type: ignore[arg-type]


def dead(asterisk: str, host: str) -> DeadNode:
    return DeadNode("pbx-1", asterisk, datetime.now(UTC), list(LIVE), host)


async def test_the_dead_nodes_asterisk_answers_which_calls_are_gone(asterisk: FakeAmi) -> None:
    here = dead(f"127.0.0.1:{asterisk.port}", socket.gethostname())
    gone = await keeper(asterisk.port)._gone_from_its_asterisk(here)
    assert gone == {"a1"}  # same machine: its loopback address is that Asterisk


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
async def test_a_loopback_address_of_another_machine_is_not_asked(
    asterisk: FakeAmi, address: str, caplog: Any
) -> None:
    elsewhere = dead(f"{address}:{asterisk.port}", "pbx-1.example")
    gone = await keeper(asterisk.port)._gone_from_its_asterisk(elsewhere)
    assert gone == set() and asterisk.actions("Login") == []  # resolved by age only; ours is not asked
    assert "DIALER_AMI_HOST" in caplog.text


def test_a_dead_nodes_calls_end_only_once_they_cannot_still_be_up(tmp_path: Path) -> None:
    """Resolution by age: nothing before ring timeout + the longest call, then `unknown` with the
    reason, and the contact claimable again; a call its Asterisk says is gone ends at once."""
    url = f"sqlite:///{tmp_path / 'nodes.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    now = [t0]
    pbx, other = (Repository(db.session_factory(engine), node=name, clock=lambda: now[0])
                  for name in ("pbx-1", "pbx-2"))  # fmt: skip
    with pbx.sessions.begin() as s:
        c = Campaign(name="c", state=CampaignState.ACTIVE, created_at=t0, ring_timeout_s=30, max_concurrent=5,
                     calls_per_second=100, settings={"retries": {"max_attempts": 3}})  # fmt: skip
        s.add(c)
        for i in range(3):
            s.add(Contact(campaign=c, external_id=f"c{i}", created_at=t0, fields={},
                          phones=[Phone(number=f"+3461110000{i}", position=0)]))  # fmt: skip
        s.flush()
        cid = c.id
    pbx.heartbeat("pbx-1.example", "10.0.0.1:5038", "test", 3, started=True)
    plans = list(pbx.claim(cid, 3, t0))
    assert len(plans) == 3
    now[0] = t0 + timedelta(seconds=60)  # silent for a minute: dead, but its calls may still be up
    [dead_node] = other.dead_nodes(silent_s=20)
    assert sorted(dead_node.live) == sorted(p.attempt_id for p in plans)
    assert other.resolve_dead(dead_node, max_call_s=3600) == 0
    assert other.resolve_dead(dead_node, max_call_s=3600, gone=[plans[0].attempt_id]) == 1
    now[0] = t0 + timedelta(seconds=30 + 3600 + 1)
    [dead_node] = other.dead_nodes(silent_s=20)
    assert other.resolve_dead(dead_node, max_call_s=3600) == 2
    assert other.dead_nodes(silent_s=20) == []
    with engine.connect() as conn:
        ended = conn.execute(select(Attempt.id, Attempt.state, Attempt.outcome, Attempt.reason)).all()
        assert {state for _id, state, _o, _r in ended} == {AttemptState.ENDED}
        assert {outcome for _id, _s, outcome, _r in ended} == {Outcome.UNKNOWN}
        reasons = {attempt_id: reason for attempt_id, _s, _o, reason in ended}
        assert "no longer has the call" in reasons[plans[0].attempt_id]
        assert all("cannot still be up" in reasons[p.attempt_id] for p in plans[1:])
        assert conn.execute(select(Contact.id).where(Contact.live_attempt_id.is_not(None))).all() == []
    engine.dispose()
