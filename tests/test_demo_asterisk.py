"""The operator's path end to end against the sandbox (what `make demo` runs): campaign create,
contacts import, prompts render, campaign start, `dialer run` until finished, report. The known
mix of simulated customers gives exact counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.sandbox.demo_campaign import EXPECTED_DIAL_RESULTS, EXPECTED_OUTCOMES, MIX, NAME, run_demo_campaign
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.models import Contact

pytestmark = pytest.mark.asterisk
ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_campaign_reports_exact_counts(sandbox: Sandbox, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    table = run_demo_campaign(sandbox, tmp_path / "work", url, say=lambda _line: None, timeout_s=400)
    assert table.returncode == 0 and NAME in table.stdout
    done = subprocess.run([sys.executable, "-m", "cli", "report", NAME, "--format", "json"], cwd=ROOT,
                          env={**os.environ, "DIALER_DB_URL": url}, text=True, capture_output=True, timeout=60)  # fmt: skip
    report = json.loads(done.stdout)
    total = sum(count for _label, count, _spec in MIX)
    assert report["attempts"] == total == 34
    assert {k: v for k, v in report["outcomes"].items() if v} == EXPECTED_OUTCOMES
    assert {k: v for k, v in report["dial_results"].items() if v} == EXPECTED_DIAL_RESULTS
    assert report["promises_to_pay"] == 6
    assert report["agent_answered"] == 4
    assert report["message_left"] == 3
    funnel = {step["step"]: step["hung_up_early"] for step in report["funnel"]}
    assert funnel.get("message") == 3
    paths = {p["path"]: p["count"] for p in report["key_paths"]}
    assert paths["identity:2>identity:2>identity:2"] == 3
    assert paths["identity:1>menu:9"] == 3
    # the contacts file is a Spanish operator's, read as it is (; importe vencimiento concepto, 1.250,00
    # and 20/11/2026), stored in one form and spoken: the calls above heard these amounts
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        fields = s.scalars(select(Contact.fields).where(Contact.external_id == "D001")).one()
    engine.dispose()
    assert fields == {"amount": "1250.00", "due_date": "2026-11-20", "concept": "la factura de gas",
                      "perfil": fields["perfil"]}
