"""A throw-away PostgreSQL server for tests: its own data directory and socket, stopped by pid."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return found[-1]


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh PostgreSQL server (run as the postgres user)."""
    user = pwd.getpwnam("postgres")
    tmp = tempfile.mkdtemp(prefix="dialer-pg-")
    os.chown(tmp, user.pw_uid, user.pw_gid)
    data = os.path.join(tmp, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def as_postgres(*cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd]

    subprocess.run(as_postgres(_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres"),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    proc = subprocess.Popen(
        as_postgres(_bin("postgres"), "-D", data, "-p", str(port), "-k", tmp, "-c", "listen_addresses="),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(tmp, f".s.PGSQL.{port}")):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("temporary PostgreSQL did not start")
            time.sleep(0.1)
        yield f"postgresql+psycopg://postgres@/postgres?host={tmp}&port={port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # runuser and postgres: the whole session
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
