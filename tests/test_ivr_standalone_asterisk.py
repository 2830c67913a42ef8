"""`dialer agi serve` on its own (as process AGI scripts run): the flow's outcome travels to the
daemon in channel variables (the dialplan's DialerEnd event) and its events go straight to SQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dialer.config import EngineSettings
from dialer.domain import Outcome
from dialer.engine import Engine
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.repository import Repository
from tests.test_daemon_asterisk import wait_for
from tests.campaigns import attempts, make_campaign, new_database
from tests.test_ivr_asterisk import PERSON, SETTINGS, scripted

pytestmark = pytest.mark.asterisk
ROOT = Path(__file__).resolve().parents[1]


async def test_standalone_agi_server_hands_the_outcome_to_the_daemon(sandbox: Sandbox, tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    number = scripted(sandbox, 201, ["1", "9"])  # identity, then "stop these calls"
    cid = make_campaign(url, "standalone", [number], people=[PERSON], flow="collections", settings=SETTINGS)
    env = {**os.environ, "DIALER_DB_URL": url}
    log = tmp_path / "agi.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "cli", "agi", "serve", "--port", str(sandbox.agi.port)],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: b"listening on" in log.read_bytes(), 15, "the FastAGI server")
        repo = Repository(db.session_factory(db.make_engine(url)))
        engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5))
        await engine.run_until_finished([cid], timeout=90)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    (attempt,) = attempts(url, cid)
    assert attempt.outcome == Outcome.OPTED_OUT
    steps = [e.name for e in events_of(repo.sessions, attempt.id) if e.kind == "step"]
    assert steps == ["amd", "greeting", "identity", "message", "menu", "opt_out"]
