"""The sandbox's Asterisk processes seen from the host: alive (by pid and command line), gone,
running instances of a chroot, and whether a port is free."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from dialer.sandbox.chroot import SandboxError


def alive(pid: int, marker: str) -> bool:
    try:
        # reap it if it is our own child that has exited (a zombie still answers kill 0)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "asterisk" in cmdline and marker in cmdline


def wait_gone(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, marker):
            return True
        time.sleep(0.1)
    return not alive(pid, marker)


def running_instances(root: Path) -> list[int]:
    base = root / "var/lib/dialer-sandbox"
    pids = []
    for pid_file in base.glob("p*/asterisk.pid"):
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            continue
        if alive(pid, f"/etc/dialer-sandbox/{pid_file.parent.name}"):
            pids.append(pid)
    return pids


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(
                f"port {port} on 127.0.0.1 is taken by another program: choose another AMI port "
                "(--ami-port or DIALER_AMI_PORT)"
            ) from None
