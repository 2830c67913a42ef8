"""`make demo`: a collections campaign of simulated customers, end to end through the CLI.

Every behaviour of the sandbox's customers is in the mix, so the report shows every outcome:
promises to pay, transfers to the simulated agents, failed identity checks, hang-ups during the
message, opt-outs, callers who never press a key, machines, busy, congestion, no answer and an
invalid number. The same steps an operator takes are run as `dialer` commands: db upgrade,
campaign create, contacts import, prompts render, campaign start, run (until the campaign is
finished), report.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from dialer.domain import CampaignState
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import script, sim_number
from dialer.storage import db
from dialer.storage.models import Campaign

NAME = "demo-collections"
PROMISE = date.today() + timedelta(days=7)
# (label, how many, number maker): scripted humans take their answers from the sandbox's AstDB
MIX: list[tuple[str, int, dict[str, object]]] = [
    ("promises to pay", 6, {"answers": ["1", "1", PROMISE.strftime("%d%m"), "1"]}),
    ("talks to an agent", 4, {"answers": ["1", "2"]}),
    ("fails the identity check", 3, {"answers": ["2", "2", "2"]}),
    ("hangs up during the message", 3, {"answers": ["1"], "hang_up": True}),
    ("stops these calls", 3, {"answers": ["1", "9"]}),
    ("presses nothing at the menu", 3, {"answers": ["1"]}),
    ("hangs up after 3 s", 2, {"behaviour": "hangup"}),
    ("voicemail", 3, {"behaviour": "machine"}),
    ("busy", 2, {"behaviour": "busy"}),
    ("congestion", 2, {"behaviour": "congestion"}),
    ("no answer", 2, {"behaviour": "no_answer"}),
    ("invalid number", 1, {"behaviour": "invalid"}),
]
# what the report must show for MIX (the end-to-end test checks it)
EXPECTED_OUTCOMES = {"answered": 9, "transferred": 4, "identity_failed": 3, "hung_up_early": 5, "opted_out": 3,
                     "machine": 3}  # fmt: skip
EXPECTED_DIAL_RESULTS = {"busy": 2, "congestion": 2, "no_answer": 2, "invalid_number": 1}

CAMPAIGN_TOML = f'''# The demo campaign (dialer/sandbox/demo_campaign.py writes it)
name = "{NAME}"
flow = "collections"
language = "es"
default_region = "ES"
trunk_template = "Local/{{number}}@sim-customers"
max_concurrent = 20
calls_per_second = 10.0
ring_timeout_s = 10
company = "Energía del Sur"
currency = "EUR"

[retries]
max_attempts = 1

[transfer]
queue = "collections"
timeout_s = 60
probability = 0.15  # about 1 call in 7 asks for an agent: the queue pacing's prior
'''


def _numbers(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(label, number) per contact; scripts go into the sandbox's AstDB."""
    out: list[tuple[str, str]] = []
    script_id = 9000
    for label, count, spec in MIX:
        for i in range(count):
            if "answers" in spec:
                script_id += 1
                value = script(spec["answers"], bool(spec.get("hang_up")))  # type: ignore[arg-type]
                command = f"database put simscript {script_id:07d} {value}"
                subprocess.run(sandbox.asterisk_cmd("-rx", command), check=True, capture_output=True, timeout=30)
                out.append((label, sim_number("scripted", tag=script_id)))
            else:
                behaviour = str(spec["behaviour"])
                kwargs = {"hangup_after_s": 3} if behaviour == "hangup" else {}
                out.append((label, sim_number(behaviour, tag=i + 1, **kwargs)))  # type: ignore[arg-type]
    return out


def write_inputs(sandbox: Sandbox, workdir: Path) -> tuple[Path, Path]:
    """The campaign file and the contacts CSV of the demo."""
    workdir.mkdir(parents=True, exist_ok=True)
    campaign = workdir / "campaign.toml"
    campaign.write_text(CAMPAIGN_TOML, encoding="utf-8")
    contacts = workdir / "contacts.csv"
    with contacts.open("w", newline="", encoding="utf-8") as fh:
        # as a Spanish operator's system writes it: ; between fields, Spanish headers, 1.250,00
        # and 20/11/2026; the import reads it as it is (no editing)
        out = csv.writer(fh, delimiter=";")
        out.writerow(["id", "nombre", "telefono", "importe", "vencimiento", "concepto", "perfil"])
        for n, (label, number) in enumerate(_numbers(sandbox), 1):
            amount = f"{1000 + 250 * n:,}".replace(",", ".") + ",00"
            out.writerow([f"D{n:03d}", f"Cliente {n}", number, amount, "20/11/2026", "la factura de gas", label])
    return campaign, contacts


def _state(url: str) -> CampaignState | None:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as s:
            return s.scalar(select(Campaign.state).where(Campaign.name == NAME))
    finally:
        engine.dispose()


def run_demo_campaign(sandbox: Sandbox, workdir: Path, url: str, say: Callable[[str], None] = print,
                      timeout_s: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Every step as a `dialer` command; returns the report command's result."""
    env = {**os.environ, **sandbox.env(), "DIALER_DB_URL": url}
    dialer = [sys.executable, "-m", "cli"]
    root = Path(__file__).resolve().parents[2]

    def step(*args: str) -> None:
        say(f"$ dialer {' '.join(args)}")
        done = subprocess.run([*dialer, *args], cwd=root, env=env, text=True, capture_output=True, timeout=600)
        for line in (done.stdout + done.stderr).splitlines()[-6:]:
            say(f"  {line}")
        if done.returncode != 0:
            raise RuntimeError(f"dialer {' '.join(args)} failed (exit {done.returncode})")

    campaign_file, contacts_file = write_inputs(sandbox, workdir)
    step("db", "upgrade")
    step("campaign", "create", "--file", str(campaign_file))
    step("contacts", "import", NAME, str(contacts_file))
    step("prompts", "render", NAME)
    step("campaign", "start", NAME)
    say("$ dialer run    (until the campaign is finished)")
    started = time.monotonic()
    with open(workdir / "daemon.log", "wb") as log:
        daemon = subprocess.Popen([*dialer, "run", "--drain-timeout", "10"], cwd=root, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        while _state(url) == CampaignState.ACTIVE:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited ({daemon.returncode}); see {workdir / 'daemon.log'}")
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the campaign did not finish in {timeout_s:g} s; see {workdir / 'daemon.log'}")
            time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    say(f"  campaign finished in {time.monotonic() - started:.0f} s; daemon log: {workdir / 'daemon.log'}")
    return subprocess.run([*dialer, "report", NAME], cwd=root, env=env, text=True, capture_output=True, timeout=60)
