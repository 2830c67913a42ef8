"""Notices before calls and before due dates, and SMS-only campaigns, sent through the SMPP SMSC
(tests/smsc.py, started and stopped by pid) by the SMS service and its producers, side by side:

- a notice `before_call_s` ahead: fresh contacts are not claimed for a call until their notice is
  queued, and then not until the notice's time plus the lead;
- a notice `days_before_due`: due soon goes now, due later waits for its day, due already gets none;
- a notice whose window is closed today is not sent, and the call waits behind it;
- an SMS-only campaign: texts to its due contacts (a DNC number gets none and is suppressed), never
  a call, and the campaign finishes once every text has left.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dialer.domain import CampaignState, Disposition, SmsState
from dialer.sms.producers import notices, sms_campaigns
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.storage import db
from dialer.storage.models import Campaign, Dnc
from dialer.storage.sms_models import Sms
from dialer.storage.repository import Repository
from tests.campaigns import contacts, make_campaign, new_database
from tests.sms_parts import smpp_smsc
from tests.test_sms_smpp import _closed_today

pytestmark = pytest.mark.sms

TODAY = date.today()
PERSON = {"name": "Ana", "amount": "120", "concept": "gas", "due_date": (TODAY + timedelta(days=20)).isoformat()}
SMS = {"sender": "Gas", "payment_link": "https://pay.example/{external_id}"}
LEAD_S = 3600


def _due(days: int) -> dict[str, str]:
    return {**PERSON, "due_date": (TODAY + timedelta(days=days)).isoformat()}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("notices")
    url = new_database(str(tmp / "d.db"))
    flow = {"render": False, "flow": "notify", "calls_per_second": 100}
    ids = {
        "call": make_campaign(url, "before-call", ["+34600100001", "+34600100002"], people=[PERSON] * 2, **flow,
                              settings={"company": "Gas", "sms": {**SMS, "notice": {"before_call_s": LEAD_S}}}),
        "due": make_campaign(url, "before-due", ["+34600100011", "+34600100012", "+34600100013"],
                             people=[_due(2), _due(10), _due(-1)], **flow,
                             settings={"company": "Gas", "sms": {**SMS, "notice": {"days_before_due": 3}}}),
        "closed": make_campaign(url, "closed", ["+34600100021"], people=[PERSON], **flow,
                                settings={"company": "Gas", "sms": {**SMS, "windows": _closed_today(),
                                                                    "notice": {"before_call_s": LEAD_S}}}),
        "only": make_campaign(url, "sms-only", ["+34600100031", "+34600100032", "+34600100033"],
                              people=[PERSON] * 3, **flow,
                              settings={"company": "Gas", "sms": {**SMS, "only": True, "text": "reminder"}}),
    }  # fmt: skip
    sessions = db.session_factory(db.make_engine(url))
    repo = Repository(sessions)
    with sessions.begin() as s:
        s.add(Dnc(number="+34600100033", source="test", added_at=datetime.now(UTC)))
    out: dict[str, object] = {"url": url, "ids": ids, "repo": repo}
    out["claimed_before"] = {k: repo.claim(ids[k], 10) for k in ("call", "only")}

    def texts() -> dict[str, Sms]:
        with sessions() as s:
            return {m.number: m for m in s.scalars(select(Sms))}

    with smpp_smsc(tmp, {}) as smsc:
        gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50"))
        leave = {"+34600100001", "+34600100002", "+34600100011", "+34600100031", "+34600100032"}

        async def main() -> None:
            async with SmsService(sessions, gateway, poll_s=0.1, producers=[notices, sms_campaigns]):
                for _ in range(200):
                    found = texts()
                    if all(n in found and found[n].state == SmsState.DELIVERED for n in leave):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)  # the only campaign's last round: it finishes

        asyncio.run(main())
        out["parts"] = smsc.parts()
    out["texts"] = texts()
    now = datetime.now(UTC)
    out["claimed_now"] = repo.claim(ids["call"], 10, now)
    out["claimed_after_lead"] = repo.claim(ids["call"], 10, now + timedelta(seconds=LEAD_S + 5))
    out["claimed_only"] = repo.claim(ids["only"], 10, now + timedelta(days=1))
    with sessions() as s:
        out["only_state"] = s.get(Campaign, ids["only"]).state  # type: ignore[union-attr]
    return out


def test_a_notice_goes_out_and_the_first_call_waits_for_it_and_its_lead(run: dict[str, object]) -> None:
    assert run["claimed_before"]["call"] == []  # type: ignore[index]
    for number in ("+34600100001", "+34600100002"):
        message = run["texts"][number]  # type: ignore[index]
        assert (message.kind, message.template, message.state) == ("notice", "notice", SmsState.DELIVERED)
        assert "120,00 EUR" in message.text
    assert run["claimed_now"] == []
    assert sorted(p.number for p in run["claimed_after_lead"]) == ["+34600100001", "+34600100002"]  # type: ignore[attr-defined]


def test_a_notice_before_the_due_date_waits_for_its_day(run: dict[str, object]) -> None:
    texts = run["texts"]
    assert texts["+34600100011"].state == SmsState.DELIVERED  # type: ignore[index]
    later = texts["+34600100012"]  # type: ignore[index]
    assert later.state == SmsState.QUEUED and later.not_before is not None
    assert later.not_before.date() >= TODAY + timedelta(days=7)
    assert "+34600100013" not in texts  # type: ignore[operator]


def test_a_notice_is_not_sent_outside_the_window_and_the_call_waits(run: dict[str, object]) -> None:
    message = run["texts"]["+34600100021"]  # type: ignore[index]
    assert message.state == SmsState.QUEUED and message.not_before > datetime.now(UTC)
    assert not [p for p in run["parts"] if p["to"] == "34600100021"]  # type: ignore[attr-defined]
    (contact,) = contacts(str(run["url"]), run["ids"]["closed"])  # type: ignore[index]
    assert contact.next_attempt_at >= message.not_before + timedelta(seconds=LEAD_S)


def test_an_sms_only_campaign_texts_its_contacts_and_never_calls(run: dict[str, object]) -> None:
    texts = run["texts"]
    for number in ("+34600100031", "+34600100032"):
        message = texts[number]  # type: ignore[index]
        assert (message.kind, message.template, message.state) == ("campaign", "reminder", SmsState.DELIVERED)
    assert "+34600100033" not in texts  # type: ignore[operator]
    dispositions = [c.disposition for c in contacts(str(run["url"]), run["ids"]["only"])]  # type: ignore[index]
    assert dispositions == [Disposition.REACHED, Disposition.REACHED, Disposition.SUPPRESSED]
    assert run["claimed_before"]["only"] == [] and run["claimed_only"] == []  # type: ignore[index]
    assert run["only_state"] == CampaignState.FINISHED
