"""The sandbox's root file system: Debian's asterisk package in a debootstrap chroot.

Built once per suite into the cache directory (outside the repository) and reused. A build
goes into `<suite>.partial` and is renamed only when complete, so a cut-off build is never
mistaken for a good one. Nothing here deletes a directory that still has mounts inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dialer.config import cache_dir

log = logging.getLogger(__name__)

# Debian suite -> the Asterisk major version its asterisk package brings.
SUITES: dict[str, int] = {"sid": 22, "bullseye": 16}
PACKAGES = [
    "asterisk",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-moh-opsound-wav",
]
READY_MARK = ".dialer-sandbox-ready"
BUILD_TIMEOUT_S = 1800


class SandboxError(RuntimeError):
    """The sandbox cannot be built, started or reached; the message says what to do."""


def sandbox_root_dir() -> Path:
    return cache_dir() / "sandbox"


def chroot_path(suite: str) -> Path:
    if suite not in SUITES:
        raise SandboxError(f"unknown suite {suite!r}: choose one of {', '.join(SUITES)}")
    return sandbox_root_dir() / suite


def is_built(suite: str) -> bool:
    return (chroot_path(suite) / READY_MARK).exists()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_chroot(suite: str, progress: Callable[[str], None] = log.info) -> Path:
    """Return the suite's chroot, building it first if it is not there yet."""
    root = chroot_path(suite)
    if is_built(suite):
        _link_languages(root / "usr/share/asterisk/sounds")
        return root
    with _lock(root.with_name(f"{suite}.lock")):
        if is_built(suite):  # another process built it while we waited
            return root
        if shutil.which("debootstrap") is None:
            raise SandboxError("debootstrap is not installed: apt-get install debootstrap")
        partial = root.with_name(f"{suite}.partial")
        if partial.exists():
            remove_tree(partial)
        progress(f"building the {suite} chroot (Asterisk {SUITES[suite]}) in {root}: about a minute, once")
        started = time.monotonic()
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            suite,
            str(partial),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
        unmount_under(partial)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            hint = ""
            log_file = partial / "debootstrap" / "debootstrap.log"
            if log_file.exists():
                hint = "\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
            raise SandboxError(f"debootstrap {suite} failed (exit {proc.returncode}):\n{tail}{hint}")
        _prepare(partial)
        if root.exists():
            remove_tree(root)
        partial.rename(root)
        progress(f"chroot ready in {time.monotonic() - started:.0f} s")
    return root


def _prepare(root: Path) -> None:
    """Asterisk runs as root inside (-U root): own its directories by root."""
    for sub in ("var/lib/asterisk", "var/log/asterisk", "var/spool/asterisk", "var/run/asterisk"):
        path = root / sub
        path.mkdir(parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, 0, 0)
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), 0, 0)
    _link_languages(root / "usr/share/asterisk/sounds")
    (root / READY_MARK).write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")


def _link_languages(sounds: Path) -> None:
    """Debian links en -> en_US_f_Allison but not every other language: es -> es_MX_f_Allison."""
    if not sounds.is_dir():
        return
    for voice in sorted(sounds.iterdir()):
        parts = voice.name.split("_")
        if voice.is_dir() and not voice.is_symlink() and len(parts) >= 3:
            for alias in (parts[0], f"{parts[0]}_{parts[1]}"):
                link = sounds / alias
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(voice.name)


# -- mounts ---------------------------------------------------------------------------
def _mounts() -> list[str]:
    points = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            point = line.split()[1].encode().decode("unicode_escape")
            points.append(point)
    return points


def mounts_under(path: Path) -> list[str]:
    base = str(path.resolve())
    return [p for p in _mounts() if p == base or p.startswith(base + "/")]


def ensure_mounts(root: Path, bind_dirs: list[Path]) -> None:
    """proc inside the chroot, and each bind dir at the same absolute path inside."""
    present = set(_mounts())
    proc = root / "proc"
    if str(proc) not in present:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, timeout=30)
    for src in bind_dirs:
        src.mkdir(parents=True, exist_ok=True)
        target = root / str(src.resolve()).lstrip("/")
        if str(target) in present:
            continue
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(src), str(target)], check=True, timeout=30)


def unmount_under(path: Path) -> None:
    """Unmount everything below path, deepest first."""
    for point in sorted(mounts_under(path), key=len, reverse=True):
        result = subprocess.run(["umount", point], capture_output=True, timeout=30, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def remove_tree(path: Path) -> None:
    unmount_under(path)
    left = mounts_under(path)
    if left:
        raise SandboxError(f"refusing to delete {path}: still mounted: {', '.join(left)}")
    shutil.rmtree(path)
