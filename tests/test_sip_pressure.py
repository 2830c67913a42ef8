"""Carrier pressure through the real trunk: the SIPp carrier refuses calls above 3 per second
(SIP 503) for 12 s; the trunk's rate (8 calls/s configured) falls below that, the refused
attempts end `congestion` ("carrier overload") and are retried, and once the carrier stops
refusing the rate climbs back to 8 calls/s."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from dialer.config import EngineSettings
from dialer.domain import DialResult, Disposition
from dialer.engine import Engine
from dialer.sandbox.carrier import Carrier, carrier_number
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.repository import Repository
from tests.campaigns import attempts, contacts, make_campaign, new_database

pytestmark = [pytest.mark.asterisk, pytest.mark.sip]

TRUNK = "PJSIP/{number}@carrier"
CEILING = 8.0  # the trunk's calls/s (dialer run --trunk-cps)
CARRIER_LIMIT = 3  # the carrier takes this many calls a second for its first 12 s
LIMITING_S = 12


def per_second(times: list[float]) -> Counter[int]:
    start = min(times)
    return Counter(int(t - start) for t in times)


def test_the_trunk_rate_falls_under_a_refusing_carrier_and_recovers(
    sandbox: Sandbox, carrier: Carrier, tmp_path: Path
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    numbers = [carrier_number("rate_limited", arg=CARRIER_LIMIT, tag=i) for i in range(150)]
    retries = {"max_attempts": 8, "max_per_result": {"busy": 1}, "delay_s": {"congestion": 1}}
    cid = make_campaign(url, "pressure", numbers, trunk_template=TRUNK, max_concurrent=40, calls_per_second=20,
                        settings={"retries": retries}, render=False)  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    settings = EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5, trunk_cps={TRUNK: CEILING})
    engine = Engine(repo, sandbox.ami, settings)
    asyncio.run(engine.run_until_finished([cid], timeout=120))

    rows = attempts(url, cid)
    refused = [a for a in rows if a.dial_result == DialResult.CONGESTION]
    assert refused and all(a.sip_code == 503 and "carrier overload" in (a.reason or "") for a in refused)
    assert {c.disposition for c in contacts(url, cid)} == {Disposition.EXHAUSTED}  # each ended busy at last
    assert all(any(b.dial_result == DialResult.BUSY for b in rows if b.contact_id == a.contact_id) for a in refused)

    pace = engine._trunk_paces[TRUNK]
    rates = [rate for _, rate, _ in pace.history]
    assert min(r for r in rates if r is not None) < CARRIER_LIMIT  # it fell below what the carrier takes
    assert pace.history[-1][1:] == (CEILING, "recovered")  # and came back up to the ceiling

    sent = per_second([a.originated_at.timestamp() for a in rows if a.originated_at is not None])
    limiting = [sent[s] for s in range(3, LIMITING_S - 1)]
    assert sum(limiting) / len(limiting) <= CARRIER_LIMIT + 1.5, sent  # held near the carrier's limit
    assert max(sent[s] for s in sent if s >= LIMITING_S + 4) >= CEILING - 2, sent  # and fast again after
