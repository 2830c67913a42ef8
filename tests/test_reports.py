"""`dialer report` and `dialer status --once`: exact figures on a known set of rows, in every format."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from dialer.reports.costs import NumberClassifier
from dialer.domain import AttemptState, CampaignState, DialResult, Outcome
from dialer.storage import db
from dialer.storage.models import Attempt, Campaign, Contact, IvrEvent, Phone
from tests.campaigns import new_database

runner = CliRunner()
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
COSTS = {"currency": "EUR", "billing_increment_s": 60,
         "per_minute": {"mobile": 0.05, "local": 0.01, "long_distance": 0.03}}  # fmt: skip
PTP_KEYS = [("step", "identity", None), ("key", "identity", "*"), ("step", "message", None), ("step", "menu", None),
            ("key", "menu", "1"), ("step", "ptp_date", None), ("key", "ptp_date", "0512"), ("step", "ptp_confirm", None),
            ("key", "ptp_confirm", "1")]  # fmt: skip
TRANSFER_KEYS = [("step", "identity", None), ("key", "identity", "*"), ("step", "message", None),
                 ("step", "menu", None), ("key", "menu", "2"), ("step", "transfer", None)]  # fmt: skip


def promise(amount: str | None) -> tuple[str, str, str]:
    return ("fact", "promise_to_pay", json.dumps({"date": "2026-12-05", **({"amount": amount} if amount else {})}))


# contact: number, amount field, [(dial_result | outcome, seconds answered, step_reached, details, events)]
CONTACTS: list[tuple[str, str | None, list[tuple[Any, float | None, str | None, dict[str, Any], list[Any]]]]] = [
    ("+34611000001", None, [(DialResult.BUSY, None, None, {}, []),
                            (Outcome.ANSWERED, 30, None, {}, [*PTP_KEYS, promise("12500.00")])]),
    ("+34918000002", None, [(Outcome.MACHINE, 20, None, {"message_left": True, "amd": "MACHINE"}, [])]),
    ("+34931000003", None, [(Outcome.TRANSFERRED, 90, None, {"agent_answered": True, "queue_wait_s": 4.0},
                             [*TRANSFER_KEYS, ("fact", "transfer", '{"agent_answered": true, "queue_wait_s": 4.0}')])]),
    ("+34611000004", None, [(Outcome.TRANSFERRED, 61, None, {"agent_answered": False, "queue_wait_s": 10.0},
                             [*TRANSFER_KEYS, promise(None)])]),
    ("+34918000005", None, [(Outcome.HUNG_UP_EARLY, 5, "identity", {}, [("step", "identity", None)])]),
    ("+34611000006", None, [(Outcome.HUNG_UP_EARLY, 40, "menu", {}, PTP_KEYS[:4])]),
    ("+34611000007", None, [(DialResult.NO_ANSWER, None, None, {}, [])]),
    ("+34611000008", None, [(Outcome.MACHINE, 10, None, {"message_left": False}, [])]),
    ("+48221234567", "300.50", [(Outcome.ANSWERED, 120, None, {}, [*PTP_KEYS, promise(None)])]),
    ("+34611000010", None, []),  # never dialled
    ("+34611000011", None, [(None, None, None, {}, [])]),  # live
    ("+34611000012", None, [(Outcome.HUNG_UP_EARLY, 3, "amd", {"amd": "HUMAN"}, [])]),
    ("+34611000013", None, [(Outcome.UNKNOWN, None, None, {}, [])]),
]  # fmt: skip


def fill(url: str) -> None:
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        c = Campaign(name="nov", state=CampaignState.ACTIVE, created_at=T0, caller_id="+34911234567",
                     default_region="ES", settings={"costs": COSTS})  # fmt: skip
        s.add(Campaign(name="other", state=CampaignState.ACTIVE, created_at=T0))
        n = 0
        for i, (number, amount, tries) in enumerate(CONTACTS):
            phone = Phone(number=number)
            contact = Contact(campaign=c, external_id=f"C{i}", created_at=T0, phones=[phone],
                              fields={"amount": amount} if amount else {})  # fmt: skip
            s.add(contact)
            s.flush()
            for result, seconds, step, details, events in tries:
                n += 1
                start = T0 + timedelta(minutes=n)
                a = Attempt(id=f"a{n:02d}", campaign_id=c.id, contact_id=contact.id, phone_id=phone.id, number=number,
                            created_at=start, originated_at=start, details=details, step_reached=step,
                            state=AttemptState.ORIGINATING if result is None else AttemptState.ENDED)  # fmt: skip
                if isinstance(result, DialResult):
                    a.dial_result, a.ended_at = result, start + timedelta(seconds=20)
                elif result is not None:
                    a.outcome = result
                    a.ended_at = start + timedelta(seconds=25 + (seconds or 0))
                    a.answered_at = None if seconds is None else start + timedelta(seconds=25)
                s.add(a)
                for seq, (kind, name, value) in enumerate(events, start=1):
                    s.add(IvrEvent(attempt_id=a.id, seq=seq, at=start, kind=kind, name=name, value=value))
    engine.dispose()


EXPECTED: dict[str, Any] = {
    "campaign": "nov", "state": "active", "attempts": 13, "live": 1, "contacts": 13, "contacts_attempted": 12,
    "contacts_reached": 9, "contact_rate_pct": 75.0, "humans_reached": 7, "connected": 9,
    "ivr_errors": 0,
    "dial_results": {"busy": 1, "no_answer": 1},
    "outcomes": {"answered": 2, "hung_up_early": 3, "machine": 2, "transferred": 2, "unknown": 1},
    "machine_pct": 22.2, "message_left": 1, "transfer_rate_pct": 28.6, "agent_answered": 1,
    "agent_answered_pct": 50.0, "avg_queue_wait_s": 7.0,
    "promises_to_pay": 3, "promised_amount": "12800.50", "promises_without_amount": 1,
    "funnel": [
        {"step": "amd", "entered": 1, "hung_up_early": 1},
        {"step": "identity", "entered": 6, "hung_up_early": 1},
        {"step": "message", "entered": 5, "hung_up_early": 0},
        {"step": "menu", "entered": 5, "hung_up_early": 1},
        {"step": "ptp_date", "entered": 2, "hung_up_early": 0},
        {"step": "transfer", "entered": 2, "hung_up_early": 0},
        {"step": "ptp_confirm", "entered": 2, "hung_up_early": 0},
    ],
    "key_paths": [
        {"path": "identity:*>menu:1>ptp_date:0512>ptp_confirm:1", "count": 2},
        {"path": "identity:*>menu:2", "count": 2},
        {"path": "identity:*", "count": 1},
    ],
    "avg_call_s": 42.1,  # (30 + 20 + 90 + 61 + 5 + 40 + 10 + 120 + 3) / 9
    "cost_currency": "EUR", "cost_billing_increment_s": 60,
    "costs": [  # whole minutes per call: mobile 1+2+1+1+1, local (Madrid, as the caller id) 1+1, long distance 2+2
        {"number_type": "mobile", "calls": 5, "billed_minutes": 6.0, "rate_per_minute": 0.05, "cost": 0.3},
        {"number_type": "local", "calls": 2, "billed_minutes": 2.0, "rate_per_minute": 0.01, "cost": 0.02},
        {"number_type": "long_distance", "calls": 2, "billed_minutes": 4.0, "rate_per_minute": 0.03, "cost": 0.12},
    ],
    "cost_total": 0.44,
    "cost_sms": None,  # no SMS here (test_the_sms_cost_is_a_line_of_the_cost_table)
    "sip_codes": {},  # Local channels: no SIP (tests/test_sip_carrier.py checks the codes)
    # 2 transfer requests, 1 not answered by an agent; the 30-day window ends now (T0 is fixed)
    "transfers": {"requests": 2, "abandoned": 1, "abandon_rate_pct": 50.0,
                  **({"requests_30d": 2, "abandoned_30d": 1, "abandon_rate_30d_pct": 50.0}
                     if datetime.now(UTC) - T0 < timedelta(days=29) else
                     {"requests_30d": 0, "abandoned_30d": 0, "abandon_rate_30d_pct": None}),
                  "abandon_target_pct": 3.0, "queue_wait_p50_s": 4.0, "queue_wait_p95_s": 10.0},
}  # fmt: skip
EXPECTED["transfers"]["within_target"] = EXPECTED["transfers"]["abandon_rate_30d_pct"] is None  # type: ignore[index]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = new_database(str(tmp_path_factory.mktemp("report") / "r.db"))
    fill(url)
    return url


def report(url: str, fmt: str) -> str:
    result = runner.invoke(app, ["report", "nov", "--format", fmt, "--url", url])
    assert result.exit_code == 0, result.output
    return result.output


def test_report_json_is_exact(url: str) -> None:
    assert json.loads(report(url, "json")) == EXPECTED


def test_report_csv_has_every_figure_in_long_format(url: str) -> None:
    rows = list(csv.reader(io.StringIO(report(url, "csv"))))
    assert rows[0] == ["section", "name", "value"]
    got = {(section, name): value for section, name, value in rows[1:]}
    assert len(got) == len(rows) - 1  # no (section, name) twice
    scalars = {k: v for k, v in EXPECTED.items() if not isinstance(v, dict | list) and not k.startswith("cost")}
    expected = {("summary", k): "" if v is None else str(v) for k, v in scalars.items()}
    expected |= {("dial_result", k): str(v) for k, v in EXPECTED["dial_results"].items()}
    expected |= {("outcome", k): str(v) for k, v in EXPECTED["outcomes"].items()}
    for s in EXPECTED["funnel"]:
        expected |= {("funnel_entered", s["step"]): str(s["entered"]), ("funnel_hung_up_early", s["step"]): str(s["hung_up_early"])}
    expected |= {("key_path", k["path"]): str(k["count"]) for k in EXPECTED["key_paths"]}
    for c in EXPECTED["costs"]:
        expected |= {(f"cost_{c['number_type']}", k): str(c[k]) for k in ("calls", "billed_minutes", "rate_per_minute", "cost")}
    expected |= {("transfers", k): "" if v is None else str(v) for k, v in EXPECTED["transfers"].items()}  # type: ignore[attr-defined]
    expected |= {("cost", "currency"): "EUR", ("cost", "billing_increment_s"): "60", ("cost", "total"): "0.44"}
    assert got == expected


def test_report_table_shows_the_figures(url: str) -> None:
    out = report(url, "table")
    for text in ("13 (1 live)", "75.0 %", "9 (7 humans)", "22.2 % (1 messages left)", "28.6 %", "50.0 % (1)", "7.0 s",
                 "3, amount 12800.50 (1 without amount)", "42.1 s", "identity:*>menu:1>ptp_date:0512>ptp_confirm:1",
                 "EUR, billed per 60 s", "0.44"):  # fmt: skip
        assert text in out, text
    funnel = [line.split("│")[1:4] for line in out.splitlines() if line.count("│") == 4]
    steps = [[cell.strip() for cell in row] for row in funnel if row[0].strip() in {f["step"] for f in EXPECTED["funnel"]}]
    assert steps == [[f["step"], str(f["entered"]), str(f["hung_up_early"])] for f in EXPECTED["funnel"]]


def test_a_campaign_without_attempts_or_costs(url: str) -> None:
    got = json.loads(runner.invoke(app, ["report", "other", "--format", "json", "--url", url]).output)
    assert (got["attempts"], got["contact_rate_pct"], got["avg_call_s"], got["costs"], got["cost_total"]) == (0, None, None, [], None)
    assert runner.invoke(app, ["report", "nov", "--format", "xml", "--url", url]).exit_code == 1


def test_number_types_for_costs() -> None:
    madrid = NumberClassifier("ES", '"Acme" <+34 911 234 567>')
    assert [madrid(n) for n in ("+34918123456", "+34931234567", "+34611234567", "+48221234567")] == [
        "local", "long_distance", "mobile", "long_distance"]  # fmt: skip
    no_reference = NumberClassifier("ES", None)  # every fixed number of the default region is local
    assert [no_reference(n) for n in ("+34918123456", "+34931234567", "+48221234567")] == ["local", "local", "long_distance"]
    new_york = NumberClassifier("US", "+12125551234")  # area codes known to phonenumbers
    assert [new_york(n) for n in ("+12125550000", "+13105550000")] == ["local", "long_distance"]


def test_status_once_shows_active_and_paused_campaigns(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "s.db"))
    now = datetime.now(UTC)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        for name, state in (("act", CampaignState.ACTIVE), ("pau", CampaignState.PAUSED), ("dra", CampaignState.DRAFT)):
            c = Campaign(name=name, state=state, created_at=now)
            phone = Phone(number="+34611000001")
            s.add(Contact(campaign=c, external_id="C", created_at=now, fields={}, phones=[phone]))
            s.flush()
            results = [DialResult.BUSY, Outcome.ANSWERED, Outcome.ANSWERED, None, None] if name == "act" else [DialResult.BUSY]
            for i, result in enumerate(results):
                at = now - timedelta(seconds=2 if name == "act" else 30)
                a = Attempt(id=f"{name}{i}", campaign_id=c.id, contact_id=c.contacts[0].id, phone_id=phone.id,
                            number=phone.number, created_at=at, originated_at=at,
                            state=AttemptState.ENDED if result else AttemptState.ANSWERED)  # fmt: skip
                if isinstance(result, DialResult):
                    a.dial_result = result
                elif result is not None:
                    a.outcome = result
                s.add(a)
    engine.dispose()
    result = runner.invoke(app, ["status", "--once", "--url", url])
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    assert rows == [
        ["act", "active", "2", "0.5", "answered 2, busy 1"],  # 5 originated in the last 10 s, 2 still live
        ["pau", "paused", "0", "0.0", "busy 1"],
    ]


def test_report_json_is_exact_on_postgresql(postgres_server: str) -> None:
    from dialer.storage.db import upgrade
    from tests.conftest import fresh_postgres

    url = fresh_postgres(postgres_server)
    upgrade(url)
    fill(url)
    assert json.loads(report(url, "json")) == EXPECTED


def test_the_sms_cost_is_a_line_of_the_cost_table(tmp_path: Path) -> None:
    from dialer.domain import SmsState
    from dialer.storage.sms_models import Sms
    from tests.campaigns import make_campaign

    url = new_database(str(tmp_path / "s.db"))
    voice = make_campaign(url, "calls-and-texts", ["+34611000001"], render=False, flow="notify",
                          settings={"costs": COSTS, "sms": {"cost_per_segment": 0.04}})  # fmt: skip
    texts = make_campaign(url, "texts", ["+48601000001"], render=False, flow="notify",
                          settings={"sms": {"only": True, "cost_per_segment": 0.05, "currency": "PLN"}})  # fmt: skip
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:  # parts sent: 2 delivered + 1 failed; a queued text costs nothing yet
        for cid, state, parts, rate in ((voice, SmsState.DELIVERED, 2, 0.04), (voice, SmsState.FAILED, 1, 0.04),
                                        (voice, SmsState.QUEUED, 1, 0.04), (texts, SmsState.DELIVERED, 1, 0.05)):  # fmt: skip
            s.add(Sms(campaign_id=cid, number="+34611000001", kind="campaign", text="x", encoding="gsm7", segments=parts,
                      cost=parts * rate, state=state, created_at=T0,
                      sent_at=None if state == SmsState.QUEUED else T0))  # fmt: skip
    engine.dispose()
    got = json.loads(runner.invoke(app, ["report", "calls-and-texts", "--format", "json", "--url", url]).output)
    assert (got["cost_sms"], got["cost_total"], got["cost_currency"]) == (0.12, 0.12, "EUR")
    table = runner.invoke(app, ["report", "calls-and-texts", "--url", url]).output
    cost_table = table[table.index("Cost estimate (EUR, billed per 60 s)"):]
    assert re.search(r"SMS\s*│\s*3 parts\s*│.*│\s*0\.12", cost_table) and re.search(r"total\s*│.*0\.12", cost_table)
    rows = list(csv.reader(io.StringIO(runner.invoke(app, ["report", "calls-and-texts", "--format", "csv",
                                                           "--url", url]).output)))  # fmt: skip
    assert ["cost", "sms", "0.12"] in rows
    only = json.loads(runner.invoke(app, ["report", "texts", "--format", "json", "--url", url]).output)
    assert (only["cost_sms"], only["cost_total"], only["cost_currency"], only["costs"]) == (0.05, 0.05, "PLN", [])
    assert "Cost estimate (PLN)" in runner.invoke(app, ["report", "texts", "--url", url]).output
