"""The CLI drives a running daemon: start, pause, resume and stop take effect within a second."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from dialer.domain import AttemptState, CampaignState
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from tests.campaigns import GREET_FLOW, attempts, campaign_row, new_database
from tests.test_daemon_asterisk import daemons, start_daemon, stop_daemon, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.asterisk
runner = CliRunner()
CONTACTS = 14
NOTICE_S = 1.5  # the daemon re-reads campaign states every second


def cli(url: str, *args: str) -> str:
    result = runner.invoke(app, [*args, "--url", url])
    assert result.exit_code == 0, result.output
    return result.output


def test_start_pause_resume_stop_from_the_cli(
    sandbox: Sandbox, tmp_path: Path, daemons: list[subprocess.Popen[bytes]]  # noqa: F811
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    toml = tmp_path / "campaign.toml"
    toml.write_text(
        'name = "live"\nflow = "greet"\nlanguage = "es"\ndefault_region = "ES"\n'
        'trunk_template = "Local/{number}@sim-customers"\nmax_concurrent = 2\ncalls_per_second = 10\n'
        f'ring_timeout_s = 5\ncompany = "Test"\nflow_file = "{GREET_FLOW}"\n[retries]\nmax_attempts = 1\n',
        encoding="utf-8",
    )
    cli(url, "campaign", "create", "--file", str(toml))
    csv = tmp_path / "contacts.csv"
    numbers = [sim_number("hangup", hangup_after_s=1, tag=i) for i in range(CONTACTS)]
    csv.write_text("id,phone\n" + "".join(f"{i},{n}\n" for i, n in enumerate(numbers)), encoding="utf-8")
    assert f"imported {CONTACTS}" in cli(url, "contacts", "import", "live", str(csv))
    assert "for 14 pending contacts" in cli(url, "prompts", "render", "live")
    cid = campaign_row_id(url)

    def count() -> int:
        return len(attempts(url, cid))

    log = tmp_path / "daemon.log"
    daemons.append(start_daemon(url, sandbox, log))
    time.sleep(2.0)
    assert count() == 0, "a draft campaign is not dialled"

    started = time.monotonic()
    cli(url, "campaign", "start", "live")
    wait_for(lambda: count() >= 1, 3, "the first call after start")
    start_latency = time.monotonic() - started
    wait_for(lambda: count() >= 3, 20, "three calls")

    cli(url, "campaign", "pause", "live")
    time.sleep(NOTICE_S)
    at_pause = count()
    time.sleep(4.0)  # the calls hang up after 1 s: slots are free, yet nothing new is sent
    assert count() == at_pause < CONTACTS, log.read_text()
    assert all(a.state == AttemptState.ENDED for a in attempts(url, cid)), "live calls end on their own"

    cli(url, "campaign", "resume", "live")
    wait_for(lambda: count() > at_pause, 3, "a call after resume")
    wait_for(lambda: count() >= at_pause + 2, 20, "two calls after resume")

    cli(url, "campaign", "stop", "live")
    time.sleep(NOTICE_S)
    at_stop = count()
    time.sleep(3.0)
    assert count() == at_stop < CONTACTS, "a stopped campaign is not dialled"
    assert campaign_row(url, cid).state == CampaignState.STOPPED
    assert stop_daemon(daemons[0]) == 0, log.read_text()
    rows = attempts(url, cid)
    assert len({a.contact_id for a in rows}) == len(rows)  # nobody dialled twice
    assert all(a.state == AttemptState.ENDED for a in rows)
    print(f"start -> first attempt: {start_latency:.2f} s; attempts at pause {at_pause}, at stop {at_stop}")


def campaign_row_id(url: str) -> int:
    from dialer.campaigns.states import find
    from dialer.storage import db

    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        cid = find(s, "live").id
    engine.dispose()
    return cid
