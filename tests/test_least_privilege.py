"""Least privilege and private files (issue 12, item 7): rendered audio 0640 in 0750 directories,
the SQLite database 0600 (its WAL too), and `dialer run` refusing the sandbox's public AMI secret
outside the sandbox, before it connects anywhere. (The AMI user's classes: test_sandbox_asterisk.)"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from dialer.config import SANDBOX_SECRET, AmiSettings, ConfigError, database_url
from dialer.storage import db
from prompts.cache import PromptCache
from tests.fake_ami import FakeAmi

ROOT = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rendered_audio_is_readable_by_the_dialer_group_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual login umask: the cache must not depend on it
    try:
        path = PromptCache(tmp_path / "prompts").render("Ana Pérez, su saldo es de doce mil pesos.", "es")
    finally:
        os.umask(old)
    assert mode(path) == 0o640
    assert mode(path.parent) == 0o750 and mode(tmp_path / "prompts") == 0o750


def test_a_new_sqlite_database_is_private_to_the_dialer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path / 'd.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        with engine.begin() as conn:  # a write: the WAL and its index appear
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            assert mode(tmp_path / "d.db") == 0o600
            assert mode(tmp_path / "d.db-wal") == 0o600 and mode(tmp_path / "d.db-shm") == 0o600
        engine.dispose()
        monkeypatch.delenv("DIALER_DB_URL", raising=False)
        monkeypatch.delenv("DIALER_DATA_DIR", raising=False)  # the test session sets one (tests/conftest.py)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        assert database_url().endswith("/data/asterisk-ivr-dialer/dialer.db")
        assert mode(tmp_path / "data" / "asterisk-ivr-dialer") == 0o700
    finally:
        os.umask(old)


@pytest.mark.parametrize(("env", "refused"), [
    ({}, True),  # no secret set: the default is the sandbox's
    ({"DIALER_AMI_SECRET": SANDBOX_SECRET}, True),
    ({"DIALER_SANDBOX": "1", "DIALER_AMI_HOST": "10.0.0.7"}, True),  # the sandbox is never elsewhere
    ({"DIALER_SANDBOX": "1"}, False),
    ({"DIALER_AMI_SECRET": "a-real-one"}, False),
])  # fmt: skip
def test_the_sandbox_secret_only_for_the_sandbox(env: dict[str, str], refused: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for name in ("DIALER_AMI_SECRET", "DIALER_SANDBOX", "DIALER_AMI_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if refused:
        with pytest.raises(ConfigError, match="DIALER_AMI_SECRET is unset or the sandbox's public secret"):
            AmiSettings.from_env()
    else:
        assert AmiSettings.from_env().secret in (SANDBOX_SECRET, "a-real-one")
    assert SANDBOX_SECRET not in repr(AmiSettings())


@pytest.fixture
async def open_ami() -> AsyncIterator[FakeAmi]:
    """An AMI that would accept the sandbox's secret (as a PBX left with it would)."""
    server = await FakeAmi(secret=SANDBOX_SECRET).start()
    yield server
    await server.stop()


async def test_dialer_run_refuses_the_sandbox_secret_before_connecting(open_ami: FakeAmi, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    db.upgrade(url)
    env = {k: v for k, v in os.environ.items() if k not in ("DIALER_AMI_SECRET", "DIALER_SANDBOX")}
    env["DIALER_AMI_PORT"] = str(open_ami.port)
    done = await run_cli(sys.executable, "-m", "cli", "run", "--url", url, env=env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: cannot start: DIALER_AMI_SECRET is unset or the sandbox's public secret: set your AMI user's secret, "
        "or DIALER_SANDBOX=1 for the sandbox"
    ]
    assert open_ami.received == []  # never logged in with it


async def run_cli(*cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return subprocess.CompletedProcess(list(cmd), proc.returncode or 0, out.decode(), err.decode())


def test_the_readme_grants_the_ami_classes_manager_conf_grants() -> None:
    """An operator merges the [dialer] user from what README says: every "read `...`" and "write
    `...`" it gives names exactly manager.conf's classes."""
    conf = (ROOT / "asterisk_conf" / "manager.conf").read_text()
    granted = dict(line.split(" = ", 1) for line in conf.splitlines() if line.startswith(("read = ", "write = ")))
    readme = " ".join((ROOT / "README.md").read_text().split())  # wrapped lines joined
    said = re.findall(r"\b(read|write) `([a-z,]+)`", readme)
    assert {kind for kind, _ in said} == {"read", "write"}
    assert all(classes == granted[kind] for kind, classes in said), (said, granted)
