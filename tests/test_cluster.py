"""Two dialer hosts, each with its own sandbox Asterisk, on one PostgreSQL: the limits of a campaign,
of a trunk and of a person hold over both, and a host killed mid-campaign leaves nothing undone.
Live calls and originates are counted from both Asterisks' own events."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.domain import AttemptState, CampaignState
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.models import Attempt, Campaign, Trunk
from tests.campaigns import make_campaign
from tests.cluster import Host, Watcher
from tests.conftest import fresh_postgres

pytestmark = [pytest.mark.asterisk, pytest.mark.cluster]


@pytest.fixture(scope="module")
def second_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    other = Sandbox(sandbox.suite, sandbox.ami_port + 20, sandbox.agi_port + 20)
    running = other.pid() is not None
    other.up()
    yield other
    if not running:
        other.down()


@pytest.fixture
def cluster(sandbox: Sandbox, second_sandbox: Sandbox, postgres_server: str, tmp_path: Path) -> Iterator[tuple[str, list[Host]]]:
    url = fresh_postgres(postgres_server)
    db.upgrade(url)
    hosts = [Host("host-a", sandbox, tmp_path / "a.log"), Host("host-b", second_sandbox, tmp_path / "b.log")]
    yield url, hosts
    for host in hosts:  # stop what the test started, by pid
        host.stop()


def rows(url: str, query: object) -> list[object]:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as s:
            return list(s.scalars(query))  # type: ignore[call-overload]
    finally:
        engine.dispose()


def finished(url: str, *ids: int) -> bool:
    return all(c.state == CampaignState.FINISHED for c in rows(url, select(Campaign).where(Campaign.id.in_(ids))))


async def run_until_finished(url: str, ids: list[int], hosts: list[Host], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(finished, url, *ids):
        if time.monotonic() > deadline:
            raise AssertionError("campaigns not finished in time:\n" + "\n".join(h.tail() for h in hosts))
        for host in hosts:
            assert host.proc is None or host.proc.poll() is None or host.proc.returncode == -9, host.tail()
        await asyncio.sleep(0.5)


def every_attempt_ended_once(url: str, ids: list[int]) -> list[Attempt]:
    attempts: list[Attempt] = rows(url, select(Attempt).where(Attempt.campaign_id.in_(ids)))  # type: ignore[assignment]
    assert attempts and all(a.state == AttemptState.ENDED and a.reason for a in attempts)
    per_contact = Counter(a.contact_id for a in attempts)
    assert max(per_contact.values()) == 1, per_contact.most_common(3)  # no contact dialled twice
    return attempts


async def test_two_hosts_hold_one_campaigns_cap_and_rate(cluster: tuple[str, list[Host]]) -> None:
    url, hosts = cluster
    numbers = [sim_number("hangup", hangup_after_s=1, tag=i) for i in range(200)]
    cid = make_campaign(url, "shared", numbers, max_concurrent=10, calls_per_second=5)
    async with Watcher([h.sandbox for h in hosts]) as watcher:
        for host in hosts:
            host.start(url)
        await run_until_finished(url, [cid], hosts, timeout=150)
    attempts = every_attempt_ended_once(url, [cid])
    assert len(attempts) == 200
    assert watcher.peak <= 10 and watcher.peak >= 5, watcher.peak  # the cap over both, and used
    assert watcher.peak_per_second <= 6, watcher.peak_per_second  # 5 calls/s plus a burst of one
    assert {a.node for a in attempts} == {"host-a", "host-b"}  # both hosts dialled


async def test_a_trunk_caps_live_calls_across_campaigns_and_hosts(cluster: tuple[str, list[Host]]) -> None:
    url, hosts = cluster
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        s.add(Trunk(name="sim", template="Local/{number}@sim-customers", max_concurrent=4, calls_per_second=20,
                    created_at=datetime.now(UTC)))  # fmt: skip
    engine.dispose()
    ids = [make_campaign(url, name, [sim_number("hangup", hangup_after_s=2, tag=100 * k + i) for i in range(20)],
                         max_concurrent=10, calls_per_second=10, trunk_name="sim")  # fmt: skip
           for k, name in enumerate(("first", "second"))]
    async with Watcher([h.sandbox for h in hosts]) as watcher:
        for host in hosts:
            host.start(url)
        await run_until_finished(url, ids, hosts, timeout=150)
    attempts = every_attempt_ended_once(url, ids)
    assert len(attempts) == 40 and {a.trunk for a in attempts} == {"sim"}
    assert 2 <= watcher.peak <= 4, watcher.peak


async def test_a_host_killed_mid_campaign_leaves_the_rest_to_the_other(cluster: tuple[str, list[Host]]) -> None:
    url, hosts = cluster
    numbers = [sim_number("hangup", hangup_after_s=2, tag=i) for i in range(60)]
    cid = make_campaign(url, "survivor", numbers, max_concurrent=6, calls_per_second=5)
    async with Watcher([h.sandbox for h in hosts]) as watcher:
        for host in hosts:
            host.start(url)
        deadline = time.monotonic() + 60
        while len(rows(url, select(Attempt.id).where(Attempt.node == "host-a"))) < 5:
            assert time.monotonic() < deadline, "host-a made no 5 calls in 60 s:\n" + hosts[0].tail()
            await asyncio.sleep(0.2)
        hosts[0].kill9()  # mid-campaign, calls of its own still up in its Asterisk
        await run_until_finished(url, [cid], hosts, timeout=180)
    attempts = every_attempt_ended_once(url, [cid])
    assert len(attempts) == 60 and watcher.peak <= 6
    resolved = [a for a in attempts if a.reason and "node host-a stopped heartbeating" in a.reason]
    assert resolved and all(a.node == "host-a" for a in resolved)  # ended by host-b, once gone from its Asterisk


async def test_a_number_in_two_campaigns_is_called_its_daily_cap_in_total(cluster: tuple[str, list[Host]]) -> None:
    url, hosts = cluster
    numbers = [sim_number("busy", tag=i) for i in range(10)]
    settings = {"schedule": {"timezone": "UTC", "windows": {"daily": "00:00-23:59"}, "caps": {"per_day": 1}},
                "retries": {"max_attempts": 3, "delay_s": {"busy": 1}}}  # fmt: skip
    for name in ("reminder", "collections"):  # both active, the same ten numbers
        make_campaign(url, name, numbers, max_concurrent=10, calls_per_second=10, settings=settings)
    async with Watcher([h.sandbox for h in hosts]) as watcher:
        for host in hosts:
            host.start(url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # both campaigns keep every number due again after 1 s
            await asyncio.sleep(0.5)
    calls = Counter(watcher.started_numbers)
    assert set(calls) == {n.lstrip("+") for n in numbers} or set(calls) == set(numbers), calls
    twice = [n for n, k in calls.items() if k > 1]
    made = [(a.number, a.campaign_id, a.node, a.created_at, a.ended_at, a.outcome) for a in
            rows(url, select(Attempt).where(Attempt.number.in_(twice + ["+" + n for n in twice])))]  # fmt: skip
    assert not twice, (calls.most_common(3), made)  # one call a day per number, all campaigns together
