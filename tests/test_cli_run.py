"""`dialer run` argument and database checks (no Asterisk needed)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.campaigns import new_database

runner = CliRunner()


def test_bad_trunk_cap_is_refused() -> None:
    result = runner.invoke(app, ["run", "--trunk-cap", "Local/{number}@x=zero"])
    assert result.exit_code == 1 and "expected TRUNK_TEMPLATE=N" in result.output


def test_bad_trunk_cps_is_refused() -> None:
    for value in ("PJSIP/{number}@carrier=0", "PJSIP/{number}@carrier=fast", "=5"):
        result = runner.invoke(app, ["run", "--trunk-cps", value])
        assert result.exit_code == 1 and "expected TRUNK_TEMPLATE=R with R > 0" in result.output, value


def test_a_database_not_at_the_newest_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, ["run", "--url", url])
    assert result.exit_code == 1 and "run dialer db upgrade" in result.output


def test_a_bad_mqtt_url_is_refused(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    result = runner.invoke(app, ["run", "--url", url], env={"DIALER_MQTT_URL": "http://user:secret@host"})
    assert result.exit_code == 1 and "DIALER_MQTT_URL: scheme must be mqtt:// or mqtts://" in result.output
    assert "secret" not in result.output
