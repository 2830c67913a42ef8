"""systemd/asterisk-ivr-dialer.service: systemd-analyze verify accepts it; drain fits the stop timeout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "asterisk-ivr-dialer.service"
EXEC = "/opt/asterisk-ivr-dialer/.venv/bin/dialer"


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """Verify a copy whose ExecStart points at a stand-in (verify checks that the program exists)."""
    stand_in = tmp_path / "dialer"
    stand_in.write_text("#!/bin/sh\n", encoding="utf-8")
    stand_in.chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(EXEC, str(stand_in)), encoding="utf-8")
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_the_unit_runs_the_daemon_hardened() -> None:
    s = settings()
    assert "time-sync.target" in s["After"][0].split()  # the clock set first (ordered only: systemd.special)
    assert s["ExecStart"][0].startswith(f"{EXEC} run") and s["User"] == ["dialer"] and s["KillSignal"] == ["SIGTERM"]
    assert s["EnvironmentFile"] == ["-/etc/default/asterisk-ivr-dialer"] and s["Restart"] == ["on-failure"]
    drain = float(re.search(r"--drain-timeout (\d+)", s["ExecStart"][0]).group(1))  # type: ignore[union-attr]
    assert int(s["TimeoutStopSec"][0]) > drain
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "MemoryDenyWriteExecute", "LockPersonality",
                "RestrictRealtime"):  # fmt: skip
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"] and s["SystemCallFilter"][0] == "@system-service"
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert set(s["ReadWritePaths"][0].split()) == {"/var/lib/asterisk-ivr-dialer", "/var/cache/asterisk-ivr-dialer"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    result = verify(tmp_path, UNIT.read_text(encoding="utf-8"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    # and it would notice a mistake: a misspelt key is reported
    typo = verify(tmp_path, UNIT.read_text(encoding="utf-8").replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key 'NoNewPrivilege'" in typo.stderr
