"""`dialer trunks` and `dialer nodes`: a named trunk made from the CLI, named by a campaign file,
listed with its campaigns and kept while one names it; the nodes with their heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from dialer.storage import db
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository
from tests.campaigns import new_database

runner = CliRunner()
CAMPAIGN = """\
name = "nov"
flow = "collections"
language = "es"
default_region = "ES"
trunk = "carrier"
"""


def cli(url: str, *args: str) -> str:
    result = runner.invoke(app, [*args, "--url", url], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_named_trunk_from_the_cli_to_a_campaign_file(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "c.db"))
    path = tmp_path / "nov.toml"
    path.write_text(CAMPAIGN)
    refused = runner.invoke(app, ["campaign", "create", "--file", str(path), "--url", url])
    assert refused.exit_code != 0 and "trunk 'carrier' does not exist" in refused.output
    cli(url, "trunks", "add", "carrier", "--template", "PJSIP/{number}@carrier", "--max-concurrent", "60",
        "--calls-per-second", "10")  # fmt: skip
    cli(url, "campaign", "create", "--file", str(path))
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        campaign = s.query(Campaign).one()
        assert (campaign.trunk_name, campaign.trunk_template) == ("carrier", "PJSIP/{number}@carrier")
    assert "nov" in cli(url, "trunks", "list")
    kept = runner.invoke(app, ["trunks", "remove", "carrier", "--url", url])
    assert kept.exit_code != 0 and "named by campaign(s) nov" in kept.output
    repo = Repository(db.session_factory(engine), node="pbx-1")
    repo.heartbeat("pbx-1.example", "10.0.0.1:5038", "1.0", 3, started=True)
    old = Repository(db.session_factory(engine), node="pbx-2",
                     clock=lambda: datetime.now(UTC) - timedelta(seconds=60))  # fmt: skip
    old.heartbeat("pbx-2.example", "10.0.0.2:5038", "1.0", 2, started=True)
    engine.dispose()
    out = cli(url, "nodes")
    assert "pbx-1.example" in out and "10.0.0.1:5038" in out and "alive" in out
    assert "silent (dead)" in out  # pbx-2's last heartbeat is a minute old
