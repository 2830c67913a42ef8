"""`dialer explain`, `dialer campaign preview` and `dialer dnc import` on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.campaigns import make_campaign, new_database

runner = CliRunner()
NY = "+12125551234"
SCHEDULE = {
    "policy": "us-regf",
    "timezone": "America/New_York",
    "windows": {"mon-fri": "09:00-20:00"},
    "holidays": ["11-26"],
}


def setup(tmp_path: Path) -> str:
    url = new_database(str(tmp_path / "d.db"))
    numbers = [NY, "+13105551234", "+12125550001", "+12125550002"]
    make_campaign(url, "bills", numbers, default_region="US", settings={"schedule": SCHEDULE})
    return url


def test_dnc_import_reports_file_line_and_field(tmp_path: Path) -> None:
    url = setup(tmp_path)
    listed = tmp_path / "list.csv"
    listed.write_text("name,phone\nann,+12125550001\nbob,12\ncid,\ndan,(212) 555-0002\nann,+12125550001\n")
    result = runner.invoke(
        app, ["dnc", "import", str(listed), "--source", "complaints", "--region", "us", "--url", url]
    )
    assert result.exit_code == 0, result.output
    assert f"{listed}:3: phone: '12' is not a valid number in region US" in result.output
    assert f"{listed}:4: phone: missing" in result.output
    assert "lines read 5 = added 2 + already listed 1 + rejected 2" in result.output
    again = runner.invoke(app, ["dnc", "import", str(listed), "--source", "x", "--strict", "--url", url])
    assert again.exit_code == 1 and "nothing imported (--strict)" in again.output


def test_explain_says_why_not_now_and_when(tmp_path: Path) -> None:
    url = setup(tmp_path)
    listed = tmp_path / "dnc.txt"
    listed.write_text("+12125550002\n")
    assert (
        runner.invoke(app, ["dnc", "import", str(listed), "--source", "complaints", "--url", url]).exit_code
        == 0
    )
    # Thursday 26 November 2026, 10:00 in New York: Thanksgiving, listed as a holiday
    result = runner.invoke(app, ["explain", "C0", "--at", "2026-11-26T15:00", "--url", url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "contact C0" in out and "in campaign bills: pending, 0 attempts" in out
    assert "time zones: America/New_York (from the phone)" in out
    assert "holiday 2026-11-26 in America/New_York" in out
    assert "next due: 2026-11-27 14:00 UTC (09:00 Fri America/New_York)" in out
    la = runner.invoke(app, ["explain", "+13105551234", "--at", "2026-11-27T15:00", "--url", url]).output
    assert (
        "07:00 fri in America/Los_Angeles is outside 09:00-20:00" in la
        and "next due: 2026-11-27 17:00 UTC" in la
    )
    now = runner.invoke(
        app, ["explain", "C0", "--campaign", "bills", "--at", "2026-11-27T15:00", "--url", url]
    )
    assert "due now" in now.output
    dnc = runner.invoke(app, ["explain", "C3", "--at", "2026-11-27T15:00", "--url", url]).output
    assert "every number is on the DNC list: +12125550002 (complaints)" in dnc and "next due: never" in dnc
    missing = runner.invoke(app, ["explain", "C9", "--url", url])
    assert missing.exit_code == 1 and "no contact 'C9'" in missing.output


def test_campaign_preview_counts_calls_by_hour_and_blocks_by_reason(tmp_path: Path) -> None:
    url = setup(tmp_path)
    listed = tmp_path / "dnc.txt"
    listed.write_text("+12125550002\n")
    runner.invoke(app, ["dnc", "import", str(listed), "--source", "complaints", "--url", url])
    # Friday 27 November 2026, 06:00 in New York: for 7 hours
    result = runner.invoke(
        app, ["campaign", "preview", "bills", "--hours", "7", "--at", "2026-11-27T11:00", "--url", url]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "campaign bills: 4 pending contacts" in out
    assert "3 calls due (0 now)" in out
    assert "Fri 11-27 14:00" in out and "Fri 09:00" in out  # two New York numbers at 09:00 local
    assert "Fri 11-27 17:00" in out  # Los Angeles at 09:00 local
    assert "blocked by dnc: 1 (e.g. C3: every number is on the DNC list" in out
    bad = runner.invoke(app, ["campaign", "preview", "nope", "--url", url])
    assert bad.exit_code == 1 and "unknown campaign 'nope'" in bad.output
