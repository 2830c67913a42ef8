"""A promise to pay as a state ([promise] grace_days), with its confirmation texts sent through the
SMPP SMSC (tests/smsc.py, started and stopped by pid) and `dialer payments import` / `dialer explain`
run as the real CLI:

- an ending whose call captured a promise holds the contact until the date plus the grace period;
- a payments file marks a contact paid, keeps its promise and cancels its queued text (a contact
  paid during its call stays paid after the call's ending); bad lines are reported as
  FILE:LINE: FIELD: REASON and change nothing;
- a promise that passes unpaid puts the contact back (claimed again), and that call's ending marks
  it broken; `dialer explain` says which of open, kept and broken holds.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.domain import DialResult, Disposition, Outcome, PromiseState, SmsState
from dialer.sms.on_ending import texts_after_ending
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.storage import db
from dialer.storage.endings import Ending
from dialer.storage.models import Contact, Promise
from dialer.storage.sms_models import Sms
from dialer.storage.promises import promise_after_ending
from dialer.storage.repository import Repository
from tests.campaigns import make_campaign, new_database
from tests.sms_parts import smpp_smsc

pytestmark = pytest.mark.sms

ROOT = Path(__file__).resolve().parent.parent
PROMISED = date.today() + timedelta(days=5)
GRACE = 2
DUE_AT = datetime.combine(PROMISED + timedelta(days=1 + GRACE), datetime.min.time(), UTC)
PERSON = {"name": "Ana", "amount": "300", "concept": "gas"}
SETTINGS = {"company": "Gas", "retries": {"max_attempts": 3}, "promise": {"grace_days": GRACE},
            "sms": {"sender": "Gas", "payment_link": "https://pay.example/{external_id}"}}  # fmt: skip
NUMBERS = ["+34600200001", "+34600200002", "+34600200003", "+34600200004", "+34600200005"]


@dataclass(frozen=True)
class Fact:
    seq: int
    at: datetime
    kind: str
    name: str
    value: str | None


def _promise_call(attempt_id: str) -> Ending:
    fact = Fact(1, datetime.now(UTC), "fact", "promise_to_pay", json.dumps({"date": PROMISED.isoformat(), "amount": "300"}))
    request = {"template": "ptp_confirmation", "promise_date": PROMISED.isoformat(), "promise_amount": "300"}
    return Ending(attempt_id, "ivr", outcome=Outcome.ANSWERED, events=(fact,), details={"sms": [request]})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from cli import app; app()", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("promises")
    url = new_database(str(tmp / "d.db"))
    cid = make_campaign(url, "ptp", NUMBERS, people=[PERSON] * 5, render=False, flow="collections",
                        settings=SETTINGS, calls_per_second=100)  # fmt: skip
    sessions = db.session_factory(db.make_engine(url))
    repo = Repository(sessions, ending_hooks=(promise_after_ending, texts_after_ending))
    out: dict[str, object] = {"url": url}
    plans = {p.number: p for p in repo.claim(cid, 5)}  # C4 stays on its call while it pays
    repo.finish_many([_promise_call(plans[n].attempt_id) for n in NUMBERS[:3]]
                     + [Ending(plans[NUMBERS[3]].attempt_id, "ivr", outcome=Outcome.ANSWERED)])  # fmt: skip
    out["claimed_held"] = repo.claim(cid, 4)
    out["explain_open"] = _cli("explain", "C2", "--url", url).stdout
    payments = tmp / "payments.csv"
    payments.write_text("external_id,amount,date\nC0,300.00,2026-11-28\nC9,10,2026-11-28\nC1,diez,2026-11-28\n"
                        "C1,300,28/11/2026\nC4,300,2026-11-28\n")  # fmt: skip
    out["import_strict"] = _cli("payments", "import", str(payments), "--url", url, "--strict")
    out["import"] = _cli("payments", "import", str(payments), "--url", url)
    out["explain_kept"] = _cli("explain", "C0", "--url", url).stdout
    repo.finish_many([_promise_call(plans[NUMBERS[4]].attempt_id)])  # paid during the call: stays paid
    with smpp_smsc(tmp, {}) as smsc:
        gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50"))

        async def main() -> None:
            async with SmsService(sessions, gateway, poll_s=0.1):
                for _ in range(100):
                    with sessions() as s:
                        states = [m.state for m in s.scalars(select(Sms).where(Sms.number != NUMBERS[0]))]
                    if len(states) == 2 and all(st == SmsState.DELIVERED for st in states):
                        break
                    await asyncio.sleep(0.1)

        asyncio.run(main())
    later = DUE_AT + timedelta(minutes=1)
    out["claimed_later"] = repo.claim(cid, 4, later)
    for plan in out["claimed_later"]:  # type: ignore[attr-defined]
        repo.clock = lambda: later
        repo.finish(plan.attempt_id, dial_result=DialResult.NO_ANSWER, reason="no answer")
    out["explain_broken"] = _cli("explain", "C1", "--url", url, "--at", later.isoformat()).stdout
    with sessions() as s:
        out["contacts"] = {c.external_id: c for c in s.scalars(select(Contact))}
        out["promises"] = {p.contact_id: p for p in s.scalars(select(Promise))}
        out["texts"] = {m.number: m for m in s.scalars(select(Sms))}
    return out


def test_a_promise_holds_the_contact_until_the_date_plus_the_grace(run: dict[str, object]) -> None:
    assert run["claimed_held"] == []
    contacts, promises = run["contacts"], run["promises"]
    assert contacts["C3"].disposition == Disposition.REACHED  # type: ignore[index]
    assert len(promises) == 3  # type: ignore[arg-type]
    for promise in promises.values():  # type: ignore[attr-defined]
        assert (promise.promised_date, promise.due_at, promise.amount) == (PROMISED, DUE_AT, "300")
    assert "promise to pay" in run["explain_open"] and f"by {PROMISED.isoformat()}" in run["explain_open"]  # type: ignore[operator]
    assert f"not called until {DUE_AT:%Y-%m-%d %H:%M} UTC" in run["explain_open"]  # type: ignore[operator]


def test_payments_import_marks_paid_keeps_the_promise_and_cancels_the_text(run: dict[str, object]) -> None:
    strict, done = run["import_strict"], run["import"]
    assert strict.returncode == 1 and "nothing imported" in strict.stdout  # type: ignore[attr-defined]
    for result in (strict, done):
        errors = result.stderr.splitlines()  # type: ignore[attr-defined]
        assert [e.split(": ", 2)[0].rsplit(":", 1)[1] for e in errors] == ["3", "4", "5"]
        assert errors[0].endswith(": external_id: no contact 'C9'")
        assert errors[1].endswith(": amount: 'diez' is not a number") and ": date: " in errors[2]
    assert done.returncode == 0 and "2 contacts paid (1 promises kept, 1 texts cancelled)" in done.stdout  # type: ignore[attr-defined]
    c0 = run["contacts"]["C0"]  # type: ignore[index]
    assert c0.disposition == Disposition.PAID and run["promises"][c0.id].state == PromiseState.KEPT  # type: ignore[index]
    assert (run["texts"][NUMBERS[0]].state, run["texts"][NUMBERS[0]].error_code) == (SmsState.CANCELLED, "paid")  # type: ignore[index]
    assert run["texts"][NUMBERS[1]].state == SmsState.DELIVERED  # type: ignore[index]
    c4 = run["contacts"]["C4"]  # type: ignore[index]
    assert c4.disposition == Disposition.PAID and c4.id not in run["promises"] and NUMBERS[4] not in run["texts"]  # type: ignore[operator]
    assert "promise: kept" in run["explain_kept"] and "settled: paid" in run["explain_kept"]  # type: ignore[operator]


def test_a_promise_that_passes_unpaid_puts_the_contact_back(run: dict[str, object]) -> None:
    assert sorted(p.number for p in run["claimed_later"]) == NUMBERS[1:3]  # type: ignore[attr-defined]
    for ext in ("C1", "C2"):
        contact = run["contacts"][ext]  # type: ignore[index]
        assert run["promises"][contact.id].state == PromiseState.BROKEN  # type: ignore[index]
        assert contact.disposition == Disposition.PENDING and contact.attempts == 2
    assert "promise: broken" in run["explain_broken"] and "back in the campaign" in run["explain_broken"]  # type: ignore[operator]
