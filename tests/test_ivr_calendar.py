"""One calendar (issue 12, item 7): a promise-to-pay date is read on the contact's local date,
on the call path and in `dialer prompts render` alike.

The contact lives where the date is not UTC's right now: UTC-12 before 11:00 UTC (still
yesterday there), UTC+14 from then on (already tomorrow). The date typed is one only the contact's
calendar accepts: its today (behind UTC), or its today + 30, the last day a promise may name (ahead).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from dialer.ivr import prerender
from dialer.ivr.calendar import contact_today, date_span
from dialer.ivr.fastagi import FastAgiServer
from dialer.ivr.service import IvrService
from dialer.ivr.trust import new_token, token_hash
from dialer.sandbox.sim import sim_number
from dialer.storage import agi_tokens, db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Campaign
from dialer.storage.repository import Repository
from tests.campaigns import make_campaign, new_database
from tests.fake_agi import FakeAsterisk, header

PROMISE_FLOW = str(Path(__file__).resolve().parent / "flows" / "promise.toml")
MAX_DAYS = 30  # tests/flows/promise.toml


def contact_elsewhere() -> tuple[str, date, date]:
    """(zone, the contact's today, the date to type) with the contact's today not UTC's."""
    now = datetime.now(UTC)
    zone = "Etc/GMT+12" if now.hour < 11 else "Pacific/Kiritimati"
    local = now.astimezone(ZoneInfo(zone)).date()
    assert local != now.date()
    return zone, local, local if local < now.date() else local + timedelta(days=MAX_DAYS)


def campaign_for(url: str, zone: str, render: bool) -> int:
    return make_campaign(url, "calendar", [sim_number("human")], render=render,
                         people=[{"name": "Ana", "amount": "100", "timezone": zone}],
                         settings={"flow_file": PROMISE_FLOW, "company": "Gas Sur"})  # fmt: skip


async def answer_as_asterisk(peer: FakeAsterisk, attempt_id: str, token: str, digits: str) -> None:
    """Answer every command until the session closes: the caller types `digits`, then confirms."""
    while line := await peer.command():
        if line == 'GET VARIABLE "DIALER_ATTEMPT"':
            peer.send(f"200 result=1 ({attempt_id})\n")
        elif line == 'GET VARIABLE "DIALER_TOKEN"':
            peer.send(f"200 result=1 ({token})\n")
        elif line.startswith("GET DATA"):
            peer.send(f"200 result={digits}\n")
        elif line.startswith("STREAM FILE") and line.endswith('"12"'):  # the read-back: 1 confirms
            peer.send("200 result=49 endpos=800\n")
        elif line.startswith("STREAM FILE"):
            peer.send("200 result=0 endpos=800\n")
        else:
            peer.send("200 result=1\n")


async def test_the_call_reads_a_typed_date_on_the_contacts_calendar(tmp_path: Path) -> None:
    zone, _local, typed = contact_elsewhere()
    url = new_database(str(tmp_path / "d.db"))
    cid = campaign_for(url, zone, render=True)
    sessions = db.session_factory(db.make_engine(url))
    repo = Repository(sessions)
    (plan,) = repo.claim(cid, 1, token="claim-1")
    repo.confirm_claim("claim-1")  # its Originate "left", as the engine does before it sends
    token = new_token()
    agi_tokens.store(sessions, {plan.attempt_id: token_hash(token)})
    service = IvrService(sessions)  # as `dialer agi serve` runs it: the SQL gate
    server = FastAgiServer(service.handler_for, "127.0.0.1", 0, gate=service)
    await server.start()
    try:
        peer = await FakeAsterisk.connect(server.port)
        peer.send(header("campaign", agi_uniqueid=plan.attempt_id))
        await answer_as_asterisk(peer, plan.attempt_id, token, typed.strftime("%d%m"))
    finally:
        await server.close(1.0)
    facts = [e.value for e in events_of(sessions, plan.attempt_id) if e.kind == "fact"]
    assert facts == [json.dumps({"date": typed.isoformat(), "amount": "100"})]


def test_prompts_render_and_the_daemons_start_use_the_contacts_calendar(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import app

    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))
    zone, local, _typed = contact_elsewhere()
    url = new_database(str(tmp_path / "d.db"))
    cid = campaign_for(url, zone, render=False)
    result = CliRunner().invoke(app, ["prompts", "render", "calendar", "--days", "0", "--url", url])
    assert result.exit_code == 0, result.output
    sessions = db.session_factory(db.make_engine(url))
    with sessions() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        book = prerender.book_for(campaign)
        # every date the contact may name, from its own today to today + 30, is rendered
        assert book.missing(list(book.campaign_jobs(local, 0))) == []
        # what the daemon renders when the campaign starts covers the contact's dates too
        _book, texts = prerender.shared_texts(campaign, datetime.now(UTC), horizon_days=0)
    assert {job.render_text for job in book.campaign_jobs(local, 0)} <= set(texts)


def test_the_contacts_today_is_its_zone_then_its_numbers_then_the_campaigns() -> None:
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert contact_today(now, "Pacific/Kiritimati", "+12125551234", {}, "ES") == date(2026, 11, 24)
    assert contact_today(now, None, "+12125551234", {}, "ES") == date(2026, 11, 23)  # New York, 18:30
    assert contact_today(now, None, None, {"schedule": {"timezone": "Asia/Tokyo"}}, "US") == date(2026, 11, 24)
    assert contact_today(now, None, None, {}, "AR") == date(2026, 11, 23)  # Buenos Aires, 20:30
    contacts = [("Pacific/Kiritimati", None), ("Etc/GMT+12", None), (None, "+12125551234")]
    assert date_span(now, contacts, {}, "ES") == (date(2026, 11, 23), date(2026, 11, 24))
