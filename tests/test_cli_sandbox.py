"""`dialer sandbox ...` end to end against the test sandbox."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from cli import app
from dialer.sandbox.instance import Sandbox
from tests.conftest import ASTERISK_MAJOR

pytestmark = pytest.mark.asterisk
runner = CliRunner()


def test_status_shows_asterisk_22_and_ami_up(sandbox: Sandbox) -> None:
    result = runner.invoke(app, ["sandbox", "status", "--suite", sandbox.suite, "--ami-port", str(sandbox.ami_port)])
    assert result.exit_code == 0, result.output
    assert f"Asterisk: {ASTERISK_MAJOR}" in result.output
    assert f"AMI: up on 127.0.0.1:{sandbox.ami_port}" in result.output
    assert f"process: running (pid {sandbox.pid()})" in result.output


def test_status_of_a_sandbox_that_is_not_running_exits_1(sandbox: Sandbox) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(app, ["sandbox", "status", "--ami-port", str(port)])
    assert result.exit_code == 1
    assert "process: not running" in result.output
    assert f"AMI: down on 127.0.0.1:{port}" in result.output


def test_up_is_idempotent_and_keeps_the_running_asterisk(sandbox: Sandbox) -> None:
    pid = sandbox.pid()
    result = runner.invoke(
        app,
        ["sandbox", "up", "--suite", sandbox.suite, "--ami-port", str(sandbox.ami_port), "--agi-port", str(sandbox.agi_port)],
    )
    assert result.exit_code == 0, result.output
    assert f"(pid {pid})" in result.output


def test_asterisk_cli_runs_a_command(sandbox: Sandbox) -> None:
    assert sandbox.cli("core show uptime") == 0


def test_probe_prints_one_row_per_simulated_customer(sandbox: Sandbox) -> None:
    result = runner.invoke(app, ["sandbox", "probe", "--ami-port", str(sandbox.ami_port)])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    assert "5 busy" in rows["busy"]
    assert "8 congestion" in rows["congestion"]
    assert "3 ringing, no answer" in rows["no answer"]
    assert "HUMAN" in rows["human pressing 1"]
    assert "MACHINE" in rows["machine"]
    assert "0 failed" in rows["invalid"] and rows["invalid"].split("│")[6].strip() == "1"
