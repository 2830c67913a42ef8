"""The sandbox's simulated SIP carrier: SIPp (Debian's sip-tester) playing the scenario
asterisk_conf/sandbox/sipp/carrier.xml on loopback, behind the PJSIP trunk `carrier`.

A carrier belongs to one sandbox instance: it listens on the sandbox's AMI port + 3000 (where
the trunk's aor points) and sends media from + 3002. It is started and stopped by its pid.
The dialled number picks what the carrier does (carrier_number); the audio and RFC 2833 key
files it plays are made once into its working directory (dialer.sandbox.carrier_media).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dialer.config import cache_dir
from dialer.sandbox.carrier_media import SIT_TONES, Sound, key_pcap, render, silence, speech, tone
from dialer.sandbox.chroot import SandboxError

log = logging.getLogger(__name__)

SCENARIO = Path(__file__).resolve().parents[2] / "asterisk_conf" / "sandbox" / "sipp" / "carrier.xml"
CARRIER_PORT_OFFSET = 3000  # from the AMI port; asterisk_conf/sandbox/pjsip.conf's aor contact
MEDIA_PORT_OFFSET = 3002  # SIPp's RTP (and + 2: its second media socket)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
DEFAULT_PREFIX = "+349"  # a Spanish fixed-line prefix: +34 9CC CAA TTT

# scenario name -> code (the number's digits 1-3 of the last 8); see carrier.xml's header
SCENARIOS: dict[str, int] = {
    "human": 100,
    "human_keys": 101,
    "machine": 110,
    "machine_no_beep": 111,
    "answer_bye": 120,
    "no_answer": 180,
    "sit_404": 183,
    "sit_quiet": 184,
    "announce_486": 185,
    "auth": 190,  # digest challenge, answered with the trunk's credentials (arg 1: refused; 2: a proxy's 407; 3: refused)
    "rate_limited": 299,
}
FINAL_RESPONSES = (403, 404, 408, 410, 480, 484, 485, 486, 488, 500, 502, 503, 504, 600, 603, 604)
HUMAN_KEYS = {"key_confirm": "1", "key_digits": "1234", "key_menu": "1"}  # scenario 101, in order
BEEP_HZ = 1000.0
MACHINE_GREETING = ("Hi, you have reached Sam Taylor. I cannot take your call right now. Please leave your "
                    "name, your number and a short message after the tone, and I will call you back.")  # fmt: skip
NOT_IN_SERVICE = "The number you have dialled is not in service. Please check the number and dial again."


def carrier_number(scenario: str | int, arg: int = 0, tag: int = 0, prefix: str = DEFAULT_PREFIX) -> str:
    """The number that makes the carrier play `scenario` (a name of SCENARIOS or a final response
    code such as 486) with its argument `arg` (0-99); `tag` (0-999) tells calls apart."""
    code = SCENARIOS.get(scenario) if isinstance(scenario, str) else scenario
    if code is None or (code not in SCENARIOS.values() and code not in FINAL_RESPONSES):
        raise ValueError(f"unknown carrier scenario {scenario!r}: one of {', '.join(SCENARIOS)} or "
                         f"{', '.join(map(str, FINAL_RESPONSES))}")  # fmt: skip
    if not 0 <= arg <= 99 or not 0 <= tag <= 999:
        raise ValueError(f"arg {arg} must be 0-99 and tag {tag} 0-999")
    return f"{prefix}{code:03d}{arg:02d}{tag:03d}"


def carrier_sounds() -> list[Sound]:
    """Everything carrier.xml streams, by file name (without .ulaw)."""
    hello = {"en": ("Hello?", "en-us"), "es": ("¿Diga?", "es"), "pl": ("Halo?", "pl")}
    sounds = [Sound(f"human_{lang}", (speech(text, voice), silence(40.0))) for lang, (text, voice) in hello.items()]
    greeting = speech(MACHINE_GREETING, "en-us", speed=165)
    sounds += [
        Sound("machine_beep", (greeting, silence(0.4), tone(BEEP_HZ, 0.5), silence(45.0))),
        Sound("machine_nobeep", (greeting, silence(45.0))),
        Sound("sit", (*(tone(hz, s) for hz, s in SIT_TONES), silence(0.4), speech(NOT_IN_SERVICE, "en-us"),
                      silence(5.0))),  # fmt: skip
        Sound("announce", (speech("Please hold, the person you are calling is being connected.", "en-us"),
                           silence(5.0))),  # fmt: skip
    ]
    return sounds


def prepare_media(directory: Path) -> Path:
    """Make (once) the audio and key files carrier.xml plays; several processes may race."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for sound in carrier_sounds():
            render(sound, directory)
        for i, (name, keys) in enumerate(HUMAN_KEYS.items()):  # rising ssrc, sequence and timestamp
            key_pcap(directory / f"{name}.pcap", keys, ssrc=0x5EED0001 + i, seq=20000 + 1000 * i,
                     timestamp=400000 + 80000 * i)  # fmt: skip
    return directory


def media_dir() -> Path:
    return cache_dir() / "carrier"


@dataclass
class Carrier:
    """One SIPp carrier process for the sandbox on `ami_port`."""

    ami_port: int
    scenario: Path = SCENARIO
    work: Path | None = None  # where the scenario's audio and key files are (default: made by prepare_media)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.ami_port + CARRIER_PORT_OFFSET

    @property
    def media_port(self) -> int:
        return self.ami_port + MEDIA_PORT_OFFSET

    @property
    def log_file(self) -> Path:
        return media_dir() / f"sipp-p{self.ami_port}.log"

    @property
    def out_file(self) -> Path:
        return media_dir() / f"sipp-p{self.ami_port}.out"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> Carrier:
        """Start SIPp and wait until it listens; an error says why it could not."""
        sipp = shutil.which("sipp")
        if sipp is None:
            raise SandboxError("sipp is not installed: apt-get install sip-tester (make system does it)")
        for port in (self.port, self.media_port, self.media_port + 2):
            if _udp_taken(port):
                raise SandboxError(f"UDP port {port} on 127.0.0.1 is taken: another carrier or program uses it")
        work = self.work or prepare_media(media_dir())
        cmd = [sipp, "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.port), "-mi", "127.0.0.1",
               "-mp", str(self.media_port), "-nostdin", "-trace_err", "-error_file", str(self.log_file)]  # fmt: skip
        self.log_file.unlink(missing_ok=True)
        with open(self.out_file, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=out, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _udp_taken(self.port):
            if self.proc.poll() is not None:
                err = self.out_file.read_text(errors="replace").strip()[-500:]
                raise SandboxError(f"sipp exited with {self.proc.returncode}: {err}")
            if time.monotonic() > deadline:
                self.stop()
                raise SandboxError(f"sipp did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT_S:g} s")
            time.sleep(0.05)
        log.info("carrier (sipp pid %d) on 127.0.0.1:%d, media from %d", self.proc.pid, self.port, self.media_port)
        return self

    def stop(self) -> None:
        """Stop SIPp by its pid: SIGTERM, then SIGKILL after the deadline."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None

    def __enter__(self) -> Carrier:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _udp_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
