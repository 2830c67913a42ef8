"""The per-attempt AGI token from the engine's side (issue 12, item 5), with a scripted AMI peer:
it rides the Originate as DIALER_TOKEN, only its hash is stored (before the Originate), and it
never reaches logs, live events or exports."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dialer.campaigns.exports import export_attempts
from dialer.config import AmiSettings, EngineSettings
from dialer.engine import Engine
from dialer.ivr.trust import token_hash
from dialer.storage import db
from dialer.storage.repository import Repository
from tests.campaigns import attempts, make_campaign, new_database
from tests.fake_ami import FakeAmi
from tests.test_engine_faults import busy, core_show_channels


class Capture:
    """An event sink that keeps every payload (what MQTT would publish)."""

    def __init__(self) -> None:
        self.payloads: list[str] = []

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        self.payloads.append(json.dumps(payload, default=str))


def variables(raw: str) -> dict[str, str]:
    pairs = [line.split(": ", 1)[1] for line in raw.split("\r\n") if line.startswith("Variable: ")]
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi(secret="s3cret").start()
    server.script["CoreShowChannels"] = core_show_channels
    yield server
    await server.stop()


async def test_each_originate_carries_its_own_token_and_sql_keeps_only_its_hash(
    fake: FakeAmi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "tokens", [f"+3464000{i:04d}" for i in range(4)], calls_per_second=100)
    seen_hashes: list[str | None] = []

    def originate(action: dict[str, str]) -> Any:  # what SQL holds when the Originate arrives
        (row,) = [a for a in attempts(url, cid) if a.id == action["ChannelId"]]
        seen_hashes.append(row.agi_token_hash)
        return busy(action)

    fake.script["Originate"] = originate
    sink = Capture()
    repo = Repository(db.session_factory(db.make_engine(url)))
    engine = Engine(repo, AmiSettings(port=fake.port, secret="s3cret"), EngineSettings(poll_s=0.05), events=sink)
    await engine.run_until_finished([cid], timeout=20)

    sent = {a["ChannelId"]: variables(raw) for a, raw in zip(fake.actions("Originate"),
                                                              [r for r in fake.raw if "Action: Originate" in r],
                                                              strict=True)}  # fmt: skip
    rows = {a.id: a for a in attempts(url, cid)}
    assert set(sent) == set(rows) and len(rows) == 4
    tokens = {attempt_id: v["DIALER_TOKEN"] for attempt_id, v in sent.items()}
    assert len(set(tokens.values())) == 4 and all(len(t) >= 32 for t in tokens.values())
    for attempt_id, token in tokens.items():
        assert sent[attempt_id]["DIALER_ATTEMPT"] == attempt_id
        assert rows[attempt_id].agi_token_hash == token_hash(token)
    assert sorted(h or "" for h in seen_hashes) == sorted(token_hash(t) for t in tokens.values())
    out = io.StringIO()
    with repo.sessions() as s:
        export_attempts(s, cid, out)
    for token in tokens.values():
        assert token not in caplog.text
        assert not any(token in p for p in sink.payloads)
        assert token not in out.getvalue() and token_hash(token) not in out.getvalue()
    assert any(p for p in sink.payloads)  # events were published, just not the token
