"""One sandbox Asterisk: its configuration, its process, its status.

Several instances share one chroot; each is named by its AMI port and has its own
configuration directory (/etc/dialer-sandbox/p<port>) and run/log/spool/db directories
(/var/lib/dialer-sandbox/p<port>) inside it, so two sandboxes run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dialer.ami import AmiClient, AmiError
from dialer.config import AgiSettings, AmiSettings, prompt_cache_dir
from dialer.sandbox import chroot
from dialer.sandbox.carrier import CARRIER_PORT_OFFSET
from dialer.sandbox.chroot import SandboxError
from dialer.sandbox.processes import alive, check_port_free, running_instances, wait_gone

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[2] / "asterisk_conf"
BOOT_TIMEOUT_S = 60.0
SIP_PORT_OFFSET = 2000  # PJSIP transport: AMI port + 2000 (asterisk_conf/sandbox/pjsip.conf)
STOP_TIMEOUT_S = 10.0


@dataclass
class Status:
    running: bool
    pid: int | None
    ami_up: bool
    version: str | None
    detail: str = ""
    channels: int | None = None


@dataclass
class Sandbox:
    suite: str = "sid"
    ami_port: int = 5038
    agi_port: int = 4573

    # -- paths ------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return chroot.chroot_path(self.suite)

    @property
    def name(self) -> str:
        return f"p{self.ami_port}"

    @property
    def inner_etc(self) -> str:
        return f"/etc/dialer-sandbox/{self.name}"

    @property
    def inner_var(self) -> str:
        return f"/var/lib/dialer-sandbox/{self.name}"

    def host_path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    @property
    def pid_file(self) -> Path:
        return self.host_path(self.inner_var) / "asterisk.pid"

    @property
    def console_log(self) -> Path:
        return self.host_path(self.inner_var) / "console.log"

    @property
    def ami(self) -> AmiSettings:
        return AmiSettings(port=self.ami_port)

    @property
    def agi(self) -> AgiSettings:
        return AgiSettings(port=self.agi_port)

    def env(self) -> dict[str, str]:
        """What a `dialer` process needs to use this sandbox: its ports, and DIALER_SANDBOX=1, without
        which `dialer run` refuses the sandbox's public AMI secret (dialer.config.AmiSettings)."""
        return {"DIALER_AMI_PORT": str(self.ami_port), "DIALER_AGI_PORT": str(self.agi_port), "DIALER_SANDBOX": "1"}
    @property
    def sip_port(self) -> int:
        """Asterisk's PJSIP transport (UDP, loopback): the AMI port + 2000."""
        return self.ami_port + SIP_PORT_OFFSET

    @property
    def carrier_port(self) -> int:
        """Where the simulated carrier (SIPp) listens: the AMI port + 3000 (dialer.sandbox.carrier)."""
        return self.ami_port + CARRIER_PORT_OFFSET

    # -- configuration ----------------------------------------------------------------
    def install_conf(self) -> None:
        """Copy asterisk_conf/ (and its sandbox/ part) in, with this instance's ports."""
        etc = self.host_path(self.inner_etc)
        if etc.exists():
            shutil.rmtree(etc)
        etc.mkdir(parents=True)
        for src in sorted(CONF_DIR.glob("*.conf")) + sorted((CONF_DIR / "sandbox").glob("*.conf")):
            text = src.read_text()
            if src.name == "manager.conf":
                text = re.sub(r"(?m)^port\s*=.*$", f"port = {self.ami_port}", text, count=1)
            if src.name == "extensions_dialer.conf":
                text = text.replace("agi://127.0.0.1:4573", self.agi.url)
            if src.name == "pjsip.conf":
                text = text.replace("127.0.0.1:5060", f"127.0.0.1:{self.sip_port}")
                text = text.replace("127.0.0.1:5070", f"127.0.0.1:{self.carrier_port}")
            (etc / src.name).write_text(text)
        var = self.inner_var
        (etc / "asterisk.conf").write_text(
            "[directories]\n"
            f"astetcdir => {self.inner_etc}\n"
            f"astmoddir => {self.module_dir()}\n"
            "astvarlibdir => /var/lib/asterisk\n"
            "astdatadir => /usr/share/asterisk\n"
            "astagidir => /usr/share/asterisk/agi-bin\n"
            "astkeydir => /var/lib/asterisk\n"
            "astsbindir => /usr/sbin\n"
            f"astdbdir => {var}/db\n"
            f"astspooldir => {var}/spool\n"
            f"astrundir => {var}/run\n"
            f"astlogdir => {var}/log\n"
            f"astcachedir => {var}/cache\n"
            "\n[options]\n"
            "verbose = 0\n"
            "nocolor = yes\n"
            "runuser = root\n"
            "rungroup = root\n"
            "maxcalls = 5000\n"
            "maxfiles = 65536\n"
        )
        for sub in ("db", "spool", "run", "log", "cache"):
            self.host_path(f"{var}/{sub}").mkdir(parents=True, exist_ok=True)

    def module_dir(self) -> str:
        """Where this suite's package put Asterisk's modules (multiarch path since bookworm)."""
        for inner in ("/usr/lib/x86_64-linux-gnu/asterisk/modules", "/usr/lib/asterisk/modules"):
            if self.host_path(inner).is_dir():
                return inner
        raise SandboxError(f"no Asterisk modules directory in {self.root}: rebuild it (delete the directory)")

    # -- process ----------------------------------------------------------------------
    def pid(self) -> int | None:
        """The instance's Asterisk pid if that process is alive (checked by its command line)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid, self.inner_etc) else None

    def asterisk_cmd(self, *args: str) -> list[str]:
        return ["chroot", str(self.root), "asterisk", "-C", f"{self.inner_etc}/asterisk.conf", *args]

    def up(self, progress: Callable[[str], None] = log.info) -> Status:
        """Build (once), configure, start and wait for FullyBooted.

        On a sandbox that already runs: install asterisk_conf/ again and reload it, so the
        running Asterisk never serves a stale configuration.
        """
        chroot.ensure_chroot(self.suite, progress)
        if self.pid() is not None:
            self.install_conf()
            subprocess.run(self.asterisk_cmd("-rx", "core reload"), capture_output=True, timeout=30, check=False)
            status = asyncio.run(self._ami_status(BOOT_TIMEOUT_S))
            if status.ami_up:
                progress(f"Asterisk already running (pid {status.pid}); configuration reloaded")
                return status
            self.down()
        check_port_free(self.ami_port)
        self.install_conf()
        chroot.ensure_mounts(self.root, [prompt_cache_dir()])
        console = open(self.console_log, "ab")
        proc = subprocess.Popen(
            self.asterisk_cmd("-f", "-U", "root", "-n"),
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        console.close()
        self.pid_file.write_text(f"{proc.pid}\n")
        progress(f"Asterisk started (pid {proc.pid}), waiting for FullyBooted on AMI port {self.ami_port}")
        status = asyncio.run(self._wait_booted(proc, BOOT_TIMEOUT_S))
        return status

    async def _wait_booted(self, proc: subprocess.Popen[bytes], timeout: float) -> Status:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error = "no answer"
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise SandboxError(
                    f"Asterisk exited with {proc.returncode} while booting; last lines of "
                    f"{self.console_log}:\n{self._log_tail()}"
                )
            try:
                async with AmiClient(self.ami, events="system") as client:
                    await client.wait_fully_booted(max(1.0, deadline - loop.time()))
                    return await self._describe(client, proc.pid)
            except AmiError as exc:
                last_error = str(exc)
            await asyncio.sleep(0.2)
        self._kill(proc.pid)
        raise SandboxError(f"Asterisk did not boot within {timeout:g} s ({last_error}):\n{self._log_tail()}")

    async def _describe(self, client: AmiClient, pid: int | None) -> Status:
        settings = await client.action({"Action": "CoreSettings"})
        channels = await client.action_list({"Action": "CoreShowChannels"})
        return Status(
            running=True,
            pid=pid,
            ami_up=True,
            version=str(settings.get("AsteriskVersion", "")) or None,
            channels=len(channels),
        )

    async def _ami_status(self, timeout: float) -> Status:
        pid = self.pid()
        try:
            async with AmiClient(self.ami, events="system") as client:
                await client.wait_fully_booted(timeout)
                return await self._describe(client, pid)
        except AmiError as exc:
            return Status(running=pid is not None, pid=pid, ami_up=False, version=None, detail=str(exc))

    def status(self) -> Status:
        return asyncio.run(self._ami_status(5.0))

    def down(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop Asterisk in order (core stop now), kill it after the deadline; True if it ran."""
        pid = self.pid()
        if pid is None:
            self._release_mounts()
            return False
        subprocess.run(
            self.asterisk_cmd("-rx", "core stop now"), capture_output=True, timeout=timeout, check=False
        )
        if not wait_gone(pid, self.inner_etc, timeout):
            log.warning("Asterisk pid %s did not stop within %g s: killing it", pid, timeout)
            self._kill(pid)
        self.pid_file.unlink(missing_ok=True)
        self._release_mounts()
        return True

    def _kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, self.inner_etc, 5.0)

    def _release_mounts(self) -> None:
        """Unmount the chroot's mounts when no other instance is running in it."""
        if not self.root.exists() or running_instances(self.root):
            return
        chroot.unmount_under(self.root)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no console log)"

    def cli(self, command: str | None) -> int:
        """Run one Asterisk CLI command, or attach an interactive console."""
        if self.pid() is None:
            raise SandboxError(f"the sandbox on AMI port {self.ami_port} is not running: dialer sandbox up")
        args = ["-rx", command] if command else ["-r"]
        return subprocess.call(self.asterisk_cmd(*args))
