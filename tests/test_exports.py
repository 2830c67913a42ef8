"""CSV export: a round trip, and cells a spreadsheet would run as formulas are defused."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from dialer.domain import CampaignState, DialResult
from dialer.campaigns.exports import safe_cell
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Phone
from dialer.storage.repository import Repository


def test_safe_cell() -> None:
    assert [safe_cell(v) for v in ["=1+1", "+34611", "-2", "@SUM(A1)", "\tx", "ok", None, 7]] == [
        "'=1+1", "'+34611", "'-2", "'@SUM(A1)", "'\tx", "ok", "", "7",
    ]  # fmt: skip


def test_export_round_trip_is_formula_safe(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    db.upgrade(url)
    repo = Repository(db.session_factory(db.make_engine(url)))
    now = datetime.now(UTC)
    with repo.sessions.begin() as s:
        c = Campaign(name="x", state=CampaignState.ACTIVE, created_at=now)
        s.add(Contact(campaign=c, external_id="E1", name="=HYPERLINK(\"http://x\")", created_at=now, fields={},
                      phones=[Phone(number="+34611100001")]))  # fmt: skip
    plan = repo.claim_next(1)
    assert plan is not None
    repo.finish(plan.attempt_id, dial_result=DialResult.BUSY, reason="-1 busy", cause=17)
    out = tmp_path / "attempts.csv"
    result = CliRunner().invoke(app, ["export", "x", "--out", str(out), "--url", url])
    assert result.exit_code == 0 and "1 attempts written" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 1
    row = rows[0]
    assert row["attempt_id"] == plan.attempt_id and row["contact"] == "E1"
    assert row["name"] == "'=HYPERLINK(\"http://x\")"
    assert row["number"] == "'+34611100001"  # a leading + is a formula too
    assert (row["dial_result"], row["reason"], row["q850_cause"]) == ("busy", "'-1 busy", "17")
    assert CliRunner().invoke(app, ["export", "nope", "--url", url]).exit_code == 1
