"""A contact strategy against the sandbox Asterisk: the README's worked strategy (fixed line, then the
mobile twice, then an SMS) for a contact who never answers, with the SMS service and the SMPP test
SMSC in the same run. The calls go in the order given, the text goes out and the contact ends
exhausted; `explain` names the steps on the way."""

from __future__ import annotations

import asyncio
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.config import EngineSettings
from dialer.domain import CampaignState, DialResult, Disposition, PhoneType, SmsState
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.reports.explain import explain_contact, preview
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.sms.on_ending import texts_after_ending
from dialer.sms.service import SmsService
from dialer.sms.settings import GatewaySettings
from dialer.sms.smpp import SmppGateway
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Phone
from dialer.storage.repository import Repository
from dialer.storage.sms_models import Sms
from tests.campaigns import GREET_FLOW, attempts, new_database, render_prompts
from tests.sms_parts import smpp_smsc

pytestmark = [pytest.mark.inbound, pytest.mark.asterisk, pytest.mark.sms]
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_strategy() -> list[dict[str, object]]:
    """The TOML block after the README's strategy-example marker."""
    text = README.read_text()
    block = re.search(r"<!-- strategy-example[^>]*-->\s*```toml\n(.*?)```", text, re.S)
    assert block, "README has no strategy example"
    return tomllib.loads(block.group(1))["strategy"]  # type: ignore[no-any-return]


def test_the_readme_strategy_calls_fixed_then_mobile_twice_then_texts(sandbox: Sandbox,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    url = new_database(str(tmp_path / "d.db"))
    mobile, fixed = sim_number("no_answer", tag=301), sim_number("no_answer", tag=302)
    now = datetime.now(UTC)
    sessions = db.session_factory(db.make_engine(url))
    with sessions.begin() as s:
        campaign = Campaign(name="strategy", state=CampaignState.ACTIVE, created_at=now, ring_timeout_s=3,
                            max_concurrent=2, calls_per_second=10,
                            settings={"flow_file": GREET_FLOW, "company": "Aguas del Sur",
                                      "retries": {"delay_s": {"no_answer": 1}},
                                      "sms": {"sender": "AguasSur", "payment_link": "https://pay.example/{external_id}"},
                                      "strategy": readme_strategy()})  # fmt: skip
        s.add(Contact(campaign=campaign, external_id="C0", name="Ana Pérez", created_at=now,
                      fields={"amount": "12500"},
                      phones=[Phone(number=mobile, position=0, type=PhoneType.MOBILE),  # listed first on purpose
                              Phone(number=fixed, position=1, type=PhoneType.FIXED)]))  # fmt: skip
        s.flush()
        cid = campaign.id
    render_prompts(url, cid)
    with sessions() as s:
        before = preview(s, s.get(Campaign, cid), now, 1)
    assert list(before.next_steps) == ["strategy: step 1 of 3: call the fixed number (1 attempt on no_contact)"]
    repo = Repository(sessions, ending_hooks=(texts_after_ending,))
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5),
                    IvrHost(repo.sessions, sandbox.agi))  # fmt: skip

    def texts() -> list[Sms]:
        with sessions() as s:
            return list(s.scalars(select(Sms)))

    with smpp_smsc(tmp_path, {}) as smsc:
        gateway = SmppGateway(GatewaySettings.from_url(f"smpp://dialer:secret@127.0.0.1:{smsc.port}?rate=50"))

        async def main() -> None:
            async with SmsService(repo.sessions, gateway, poll_s=0.2):
                await engine.run_until_finished([cid], timeout=90)
                for _ in range(100):
                    if any(m.state == SmsState.DELIVERED for m in texts()):
                        break
                    await asyncio.sleep(0.2)

        asyncio.run(main())
    made = attempts(url, cid)
    assert [a.number for a in made] == [fixed, mobile, mobile]
    assert all(a.dial_result == DialResult.NO_ANSWER for a in made)
    (text,) = texts()
    assert (text.number, text.template, text.kind, text.state) == (mobile, "missed_call", "strategy",
                                                                   SmsState.DELIVERED)  # fmt: skip
    with sessions() as s:
        contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).one()
        assert contact.disposition == Disposition.EXHAUSTED
        said = explain_contact(s, contact, datetime.now(UTC))
    assert "strategy: all 3 steps done" in said
