"""Named SMS gateways, fast: DIALER_SMS_GATEWAY_<NAME> parsing (secrets kept out of reprs and
errors), the claim filter that gives each sender only the texts of the campaigns that pick its
gateway (and parks, never sends, those of a gateway nobody here has), and the campaign file
check of `[sms] gateway`, which only refuses a name where the configured names are known."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dialer.campaigns.files import CampaignFileError, parse_campaign
from dialer.config import ConfigError
from dialer.domain import SmsState
from dialer.reports.explain import explain_contact
from dialer.reports.sms_report import sms_summary
from dialer.storage import db, sms_claim
from dialer.storage.sms_claim import NO_GATEWAY, claim_texts, gateway_name
from dialer.storage.models import Contact, Dnc
from dialer.storage.sms_models import Sms
from dialer.sms.settings import gateway_names, gateways_from_env
from tests.campaigns import make_campaign, new_database
from tests.conftest import fresh_postgres
from tests.test_sms_smpp import PERSON, SMS, _queue

ENV = {"DIALER_SMS_GATEWAY": "kannel://bulk:k-s3cret@127.0.0.1:13013",
       "DIALER_SMS_GATEWAY_TXN": "smpp://dialer:p-s3cret@10.0.0.5:2775?window=4&rate=5",
       "DIALER_SMS_GATEWAY_Backup": "smpp://dialer:b-s3cret@10.0.0.6:2775",
       "DIALER_SMS_GATEWAY_OFF": "", "DIALER_SMS_LISTEN": "127.0.0.1:13080"}  # fmt: skip


def test_named_gateways_come_from_the_environment_default_first_and_keep_their_secrets() -> None:
    found = gateways_from_env(ENV)
    assert list(found) == ["default", "backup", "txn"]  # an empty variable configures nothing
    assert gateway_names(ENV) == {"default", "backup", "txn"}
    txn = found["txn"]
    assert (txn.kind, txn.host, txn.port, txn.name, txn.options["window"], txn.options["rate"]) == (
        "smpp", "10.0.0.5", 2775, "txn", 4, 5.0)  # fmt: skip
    assert found["default"].kind == "kannel" and found["default"].name == "default"
    shown = repr(found) + " ".join(g.where for g in found.values())
    assert "s3cret" not in shown and "dialer@10.0.0.5:2775" in shown
    assert gateways_from_env({"DIALER_SMS_GATEWAY_ONLY": "smpp://a:b@h:1"}).keys() == {"only"}  # no default: fine
    assert gateways_from_env({}) == {}


@pytest.mark.parametrize(("env", "says"), [
    ({"DIALER_SMS_GATEWAY_TXN": "http://a:pw-x@h:1"}, "DIALER_SMS_GATEWAY_TXN: scheme must be"),
    ({"DIALER_SMS_GATEWAY_TXN": "smpp://a:pw-x@h:1?speed=3"}, "DIALER_SMS_GATEWAY_TXN: unknown option 'speed'"),
    ({"DIALER_SMS_GATEWAY_DEFAULT": "smpp://a:pw-x@h:1"}, "the default gateway is DIALER_SMS_GATEWAY"),
    ({"DIALER_SMS_GATEWAY_TXN": "smpp://a:pw-x@h:1", "DIALER_SMS_GATEWAY_txn": "smpp://a:pw-x@h:2"}, "the same gateway name twice"),
    ({"DIALER_SMS_GATEWAY_MUCH_TOO_LONG_A_NAME_HERE": "smpp://a:pw-x@h:1"}, "1 to 20 letters"),
])  # fmt: skip
def test_a_bad_named_gateway_names_its_variable_and_never_its_password(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as info:
        gateways_from_env(env)
    assert says in str(info.value) and "pw-x" not in str(info.value)


def test_a_campaign_picks_its_gateway_by_name_in_any_case() -> None:
    assert [gateway_name(t) for t in ({}, {"gateway": "TXN "}, {"gateway": ""})] == ["default", "txn", "default"]


def test_each_sender_claims_only_its_campaigns_texts_and_an_unknown_gateways_texts_wait(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    picks = {"plain": None, "bulk": "bulk", "txn": "TXN", "ghost": "ghost"}
    ids = {}
    for i, (name, gateway) in enumerate(picks.items()):
        sms = {**SMS, **({"gateway": gateway} if gateway else {})}
        ids[name] = make_campaign(url, name, [f"+3460000{300 + i:04d}"], people=[PERSON], render=False, flow="notify",
                                  settings={"company": "Gas", "sms": sms})  # fmt: skip
        _queue(url, ids[name], "reminder")
    sessions = db.session_factory(db.make_engine(url))
    now, known = datetime.now(UTC), {"default", "bulk", "txn"}
    got = {}
    for gateway in ("txn", "bulk", "default"):
        jobs, changes = claim_texts(sessions, "n1", now, 50, gateway, known)
        got[gateway] = [j.campaign_id for j in jobs]
        parked = [(c.campaign_id, c.state, c.error) for c in changes]
        assert parked == ([(ids["ghost"], "queued", NO_GATEWAY)] if gateway == "txn" else [])  # marked once
    assert got == {"txn": [ids["txn"]], "bulk": [ids["bulk"]], "default": [ids["plain"]]}
    with sessions() as s:
        ghost = s.scalars(select(Sms).where(Sms.campaign_id == ids["ghost"])).one()
        assert (ghost.state, ghost.error_code, ghost.tries) == (SmsState.QUEUED, NO_GATEWAY, 0)
        summary = sms_summary(s, ids["ghost"])
        lines = explain_contact(s, s.get(Contact, ghost.contact_id), now)  # type: ignore[arg-type]
    assert "SMS: 1 text(s) waiting: the campaign picks gateway 'ghost', which no running dialer has " \
           "(set DIALER_SMS_GATEWAY_GHOST where the daemon runs)" in lines
    assert summary is not None and (summary["gateway"], summary["waiting_for_gateway"], summary["queued"]) == ("ghost", 1, 1)
    # a host that has the gateway sends it, and the mark goes
    (job,), _ = claim_texts(sessions, "n2", now, 50, "ghost", {"ghost"})
    with sessions() as s:
        assert s.get(Sms, job.sms_id).error_code is None  # type: ignore[union-attr]


SMS_FILE = """\
name = "nov"
flow = "collections"
language = "es"
default_region = "ES"
trunk_template = "Local/{number}@sim-customers"

[sms]
sender = "Gas"
gateway = "%s"
"""


def test_campaign_file_gateway_is_checked_where_the_gateways_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("DIALER_SMS_GATEWAY")]:
        monkeypatch.delenv(key)
    assert parse_campaign(SMS_FILE % "txn", "c.toml").settings["sms"]["gateway"] == "txn"  # names unknown here
    monkeypatch.setenv("DIALER_SMS_GATEWAY", "kannel://u:p@h:1")
    monkeypatch.setenv("DIALER_SMS_GATEWAY_TXN", "smpp://u:p@h:2")
    assert parse_campaign(SMS_FILE % "TXN", "c.toml").settings["sms"]["gateway"] == "TXN"
    for name, reason in (("bulk", "no SMS gateway 'bulk' is configured (known: default, txn; configure it as "
                                  "DIALER_SMS_GATEWAY_BULK)"),
                         ("bulk-1", "a gateway name is letters, digits or _ (DIALER_SMS_GATEWAY_<NAME>)")):  # fmt: skip
        with pytest.raises(CampaignFileError) as info:
            parse_campaign(SMS_FILE % name, "c.toml")
        assert info.value.errors == [f"c.toml:9: sms.gateway: {reason}"]


def test_sms_gateways_lists_the_configured_ones_without_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli import app

    for key in [k for k in os.environ if k.startswith("DIALER_SMS_GATEWAY")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COLUMNS", "200")
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["sms", "gateways"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "DIALER_SMS_GATEWAY" in line]
    assert [line.split()[1] for line in rows] == ["default", "backup", "txn"]
    assert "kannel://bulk@127.0.0.1:13013" in rows[0] and "window=4 rate=5.0" in rows[2]
    assert "s3cret" not in result.output


def test_a_text_another_host_claimed_meanwhile_is_not_marked_cancelled(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: this host read two queued texts; the second's number is on the DNC list, so it
    decides to cancel it, but meanwhile another host (which read before the DNC entry) claimed it
    (`sending`). The cancel is a guarded UPDATE: the text stays `sending`, as it is being sent."""
    url = fresh_postgres(postgres_server)
    db.upgrade(url)
    first, second = "+34600000401", "+34600000402"
    cid = make_campaign(url, "notice", [first, second], people=[PERSON] * 2, render=False, flow="notify",
                        settings={"company": "Gas", "sms": SMS})  # fmt: skip
    _queue(url, cid, "reminder")
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        s.add(Dnc(number=second, source="test", reason="opted out", added_at=datetime.now(UTC)))
    original, raced = sms_claim.opens_at, []

    def then_race(*args: object) -> object:
        if not raced:  # between this host's read and its decision on the second text
            raced.append(True)
            with sessions.begin() as s:
                s.execute(update(Sms).where(Sms.number == second).values(state=SmsState.SENDING, node="n2"))
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sms_claim, "opens_at", then_race)
    try:
        jobs, changes = claim_texts(sessions, "n1", datetime.now(UTC), 50)
        assert [j.number for j in jobs] == [first] and changes == []
        with sessions() as s:
            assert s.scalars(select(Sms.state).where(Sms.number == second)).one() == SmsState.SENDING
    finally:
        engine.dispose()
