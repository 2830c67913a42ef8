"""`dialer run` as a real process against the sandbox: kill -9 and restart; Asterisk restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialer.domain import AttemptState, CampaignState, Outcome
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from tests.campaigns import attempts, campaign_row, make_campaign, new_database
from tests.daemons import ROOT, start_daemon, stop_daemon, wait_for

pytestmark = pytest.mark.asterisk
@pytest.fixture
def daemons() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:  # stop what the test started, by pid
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def live(url: str, cid: int) -> int:
    return sum(1 for a in attempts(url, cid) if a.state != AttemptState.ENDED)


def dialing(
    tmp_path: Path, sandbox: Sandbox, daemons: list[subprocess.Popen[bytes]], contacts: int, cap: int
) -> tuple[str, int, Path]:
    """A daemon dialing `contacts` humans who hang up after 3 s, once `cap` calls are live."""
    url = new_database(str(tmp_path / "d.db"))
    numbers = [sim_number("hangup", hangup_after_s=3, tag=i) for i in range(contacts)]
    cid = make_campaign(url, tmp_path.name, numbers, max_concurrent=cap, calls_per_second=20)
    log = tmp_path / "daemon.log"
    daemons.append(start_daemon(url, sandbox, log))
    wait_for(lambda: live(url, cid) == cap, 30, f"{cap} live calls")
    return url, cid, log


def test_kill_9_and_restart_dials_no_contact_twice(
    sandbox: Sandbox, tmp_path: Path, daemons: list[subprocess.Popen[bytes]]
) -> None:
    url, cid, log = dialing(tmp_path, sandbox, daemons, contacts=20, cap=5)
    daemons[0].kill()  # SIGKILL: no drain, nothing recorded on the way out
    daemons[0].wait(timeout=10)
    in_flight = {a.id for a in attempts(url, cid) if a.state != AttemptState.ENDED}
    assert len(in_flight) == 5
    daemons.append(start_daemon(url, sandbox, log))
    wait_for(lambda: campaign_row(url, cid).state == CampaignState.FINISHED, 90, "the campaign to finish")
    assert stop_daemon(daemons[1]) == 0, log.read_text()
    rows = attempts(url, cid)
    assert len(rows) == 20 and len({a.contact_id for a in rows}) == 20  # nobody dialled twice
    assert all(a.state == AttemptState.ENDED and (a.dial_result or a.outcome) and a.reason for a in rows)
    # the calls live at the crash were followed to their end by the second daemon
    for a in rows:
        if a.id in in_flight:
            assert a.outcome in (Outcome.HUNG_UP_EARLY, Outcome.UNKNOWN), (a.outcome, a.reason)


def test_asterisk_crash_mid_campaign_reconnects_and_finishes(
    sandbox: Sandbox, tmp_path: Path, daemons: list[subprocess.Popen[bytes]]
) -> None:
    own = Sandbox(sandbox.suite, sandbox.ami_port + 10, sandbox.agi_port + 10)  # one the test may stop
    own.up()
    try:
        url, cid, log = dialing(tmp_path, own, daemons, contacts=12, cap=3)
        cut = {a.id for a in attempts(url, cid) if a.state != AttemptState.ENDED}
        pid = own.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # Asterisk dies: no Hangup events, the AMI socket just drops
        wait_for(lambda: own.pid() is None, 10, "Asterisk to die")
        time.sleep(1.0)
        own.up()
        wait_for(lambda: campaign_row(url, cid).state == CampaignState.FINISHED, 90, "the campaign to finish")
        assert daemons[0].poll() is None, "the daemon must survive the Asterisk restart"
        assert stop_daemon(daemons[0]) == 0
    finally:
        own.down()
    rows = attempts(url, cid)
    assert len(rows) == 12 and len({a.contact_id for a in rows}) == 12
    assert all(a.state == AttemptState.ENDED for a in rows)
    cut_rows = [a for a in rows if a.id in cut]
    assert cut_rows and all(a.outcome == Outcome.UNKNOWN for a in cut_rows), [(a.outcome, a.reason) for a in cut_rows]
    assert "reconnected and resynced" in log.read_text()


def test_sigterm_stops_originating_lets_live_calls_end_and_exits_0(
    sandbox: Sandbox, tmp_path: Path, daemons: list[subprocess.Popen[bytes]]
) -> None:
    url, cid, log = dialing(tmp_path, sandbox, daemons, contacts=10, cap=3)
    at_stop = {a.id for a in attempts(url, cid)}
    assert stop_daemon(daemons[0]) == 0, log.read_text()
    rows = attempts(url, cid)
    assert {a.id for a in rows} == at_stop  # nothing new after SIGTERM
    assert all(a.state == AttemptState.ENDED for a in rows)
    assert [a.outcome for a in rows if a.outcome] == [Outcome.HUNG_UP_EARLY] * 3  # they ended on their own
    assert campaign_row(url, cid).state == CampaignState.ACTIVE  # the rest waits for the next run


def test_wrong_secret_or_no_ami_at_start_is_one_line_and_exit_1(sandbox: Sandbox, tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    base = {**os.environ, **sandbox.env()}
    cmd = [sys.executable, "-m", "cli", "run", "--url", url]
    wrong = subprocess.run(cmd, cwd=ROOT, env={**base, "DIALER_AMI_SECRET": "nope"}, capture_output=True,
                           text=True, timeout=30)  # fmt: skip
    down = subprocess.run(cmd, cwd=ROOT, env={**base, "DIALER_AMI_PORT": "1"}, capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert wrong.returncode == 1 and "login as 'dialer' refused" in wrong.stderr
    assert down.returncode == 1 and "127.0.0.1:1 unreachable" in down.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1 and len(down.stderr.strip().splitlines()) == 1
