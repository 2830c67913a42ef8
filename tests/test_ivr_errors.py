"""A flow error is not "answered" (issue 12, item 4), on scripted fake channels and real SQLite:
the `ivr_error` outcome, the retry rules, the partial report kept on every way out, and the
prompts checked when a contact is claimed (the sandbox test is test_ivr_errors_asterisk.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.config import AgiSettings, AmiSettings, EngineSettings
from dialer.domain import CampaignState, Disposition, Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.engine.tracker import LiveCall, connected_outcome
from dialer.ivr import prerender
from dialer.ivr.agi import AgiError, AgiTimeout
from dialer.ivr.call import CallContext
from dialer.ivr.flow import Flow, load
from dialer.ivr.prompt_book import PromptBook, PromptMissing
from dialer.ivr.runner import FlowRunner
from dialer.ivr.service import IvrService
from dialer.reports.campaign_report import build_report
from dialer.reports.explain import explain_contact
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Phone
from dialer.storage.repository import Repository
from prompts.splice import WORD
from tests.campaigns import make_campaign, new_database
from tests.test_ivr_runner import TODAY, Book, FakeChannel, ctx, run

PROMISE_KEYS = ["1", "1", "2811", "1"]  # identity, menu 1 (promise), 28 Nov, confirm
PERSON = {"name": "Ana Pérez", "amount": "12500", "due_date": "2026-11-20", "concept": "la factura de gas"}


class MissingBook(Book):
    """Every prompt rendered but one: what a call meets when a file goes missing mid-campaign."""

    lost = "collections_menu"

    def path(self, key: str, values: Mapping[str, str]) -> Path:
        if key == self.lost:
            raise PromptMissing(f"prompt {key!r} (es) is not rendered: run `dialer prompts render`")
        return super().path(key, values)


class BrokenChannel(FakeChannel):
    """Asterisk stops answering at one prompt: the AGI channel times out, and is unusable after."""

    def __init__(self, keys: list[str | None], breaks_at: str, hang: bool = False) -> None:
        super().__init__(keys)
        self.breaks_at, self.hang, self.broken = breaks_at, hang, False
        self.reached = asyncio.Event()

    async def stream_file(self, path: str, escape_digits: str = "") -> str | None:
        if self.broken:
            raise AgiError("AGI channel unusable: no reply to STREAM FILE within 30 s")
        if path.rsplit("/", 1)[-1] == self.breaks_at:
            self.reached.set()
            if self.hang:  # a session the daemon cancels while it waits (drain)
                await asyncio.Event().wait()
            self.broken = True
            raise AgiTimeout("no reply to STREAM FILE within 30 s")
        return await super().stream_file(path, escape_digits)

    async def hangup(self) -> None:
        if self.broken:
            raise AgiError("AGI channel unusable: no reply to STREAM FILE within 30 s")
        await super().hangup()


async def test_a_prompt_missing_mid_call_ends_as_ivr_error_at_its_step() -> None:
    flow = load("collections")
    report = await run("collections", FakeChannel(["1"]), flow=flow)
    assert report.final() == (Outcome.ANSWERED, None)  # the same call with every prompt there
    channel = FakeChannel(["1"])
    book = MissingBook(flow, "es", {"company": "X"})
    report = await FlowRunner(channel, ctx("collections"), flow, book, today=TODAY).run()
    assert report.completed  # the message was delivered before the menu broke
    assert report.final() == (Outcome.IVR_ERROR, "menu") and channel.hung_up
    assert "collections_menu" in report.details["error"]


async def test_an_answered_outcome_whose_prompt_breaks_is_an_ivr_error_and_keeps_the_promise() -> None:
    channel = BrokenChannel(list(PROMISE_KEYS), breaks_at="ptp_thanks")
    report = await run("collections", channel)
    assert report.final() == (Outcome.IVR_ERROR, "ptp_thanks")
    facts = [e.value for e in report.events if e.kind == "fact" and e.name == "promise_to_pay"]
    assert facts and '"2026-11-28"' in facts[0]


async def test_an_opt_out_still_wins_over_a_broken_goodbye() -> None:
    report = await run("collections", BrokenChannel(["1", "9"], breaks_at="opt_out_done"))
    assert report.final() == (Outcome.OPTED_OUT, None)  # the number still goes on the DNC list


# -- the report reaches the engine on every way out ------------------------------------------------
class Tracker:
    def __init__(self, call: LiveCall) -> None:
        self.calls = {call.attempt_id: call}


class FlowService(IvrService):
    """The daemon's IVR service with the test's prompt book (every prompt "rendered")."""

    def _prepared(self, ctx: CallContext) -> tuple[Flow, PromptBook]:
        flow = load("collections")
        return flow, Book(flow, "es", {"company": "X"})


def _claimed(tmp_path: Path) -> tuple[Repository, str, LiveCall]:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "ivr-errors", ["+34611100001"], render=False, flow="collections",
                        settings={"company": "X", "retries": {"max_attempts": 3}},
                        people=[{"name": "Ana", "amount": "10", "due_date": "2026-11-30",
                                 "concept": "gas"}])  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    plan = repo.claim_next(cid)
    assert plan is not None
    return repo, plan.attempt_id, LiveCall(plan.attempt_id, cid, plan.contact_id)


@pytest.mark.parametrize("hang", [False, True], ids=["agi-timeout", "cancelled"])
async def test_a_broken_or_cancelled_session_hands_over_its_partial_report(
    tmp_path: Path, hang: bool
) -> None:
    repo, attempt_id, call = _claimed(tmp_path)
    service = FlowService(repo.sessions, tracker=Tracker(call), clock=lambda: datetime.combine(TODAY, time(12), UTC))
    channel = BrokenChannel(list(PROMISE_KEYS), breaks_at="ptp_thanks", hang=hang)
    channel.variables["DIALER_ATTEMPT"] = attempt_id
    channel.attempt_id = attempt_id  # admitted by the FastAGI server's gate (tests/test_ivr_trust.py)
    session = asyncio.ensure_future(service.handle(channel))
    await asyncio.wait_for(channel.reached.wait(), 5)
    if hang:
        session.cancel()
        with pytest.raises(asyncio.CancelledError):
            await session
    else:
        await asyncio.wait_for(session, 5)
    assert call.ivr_done is not None and call.ivr_done.is_set()
    assert (call.outcome, call.step) == (Outcome.IVR_ERROR, "ptp_thanks")
    assert any(e.kind == "fact" and e.name == "promise_to_pay" for e in call.events)
    outcome, reason = connected_outcome(call)
    assert outcome == Outcome.IVR_ERROR and reason.startswith("IVR error: ")
    assert ("cancelled" in call.details["error"]) == hang
    service.sql.close()




# -- not reached: called again -----------------------------------------------------------------
def test_ivr_error_is_not_reached_and_is_retried_then_reported(tmp_path: Path) -> None:
    repo, attempt_id, _call = _claimed(tmp_path)
    repo.finish(attempt_id, outcome=Outcome.IVR_ERROR, step="menu", reason="IVR error: prompt missing")
    with repo.sessions() as s:
        contact = s.scalars(select(Contact)).one()
        campaign = s.scalars(select(Campaign)).one()
        assert contact.disposition == Disposition.PENDING and contact.live_attempt_id is None
        assert contact.next_attempt_at is not None
        wait = contact.next_attempt_at - datetime.now(UTC)
        assert timedelta(minutes=29) < wait <= timedelta(minutes=30)  # retries.delay_s.ivr_error: 1800
        report = build_report(s, campaign)
    assert report.outcomes == {"ivr_error": 1} and report.connected == report.ivr_errors == 1
    assert report.contacts_reached == 0 and report.contact_rate_pct == 0.0  # connected, not reached
    again = repo.claim_next(campaign.id, datetime.now(UTC) + timedelta(minutes=31))
    assert again is not None and again.contact_id == contact.id


# -- personal audio prepared when a contact is claimed -------------------------------------------
def test_a_contact_imported_after_the_start_is_claimed_with_its_texts_one_that_cannot_be_spoken_is_parked(
    tmp_path: Path,
) -> None:
    url = new_database(str(tmp_path / "d.db"))
    person = PERSON
    cid = make_campaign(url, "late-import", ["+34611100001"], people=[person], flow="collections",
                        calls_per_second=100,  # every contact in one claim: the shared bucket is not the point
                        settings={"company": "Gas Sur", "currency": "ARS"})  # fmt: skip
    repo = Repository(db.session_factory(db.make_engine(url)))
    now = datetime.now(UTC)
    late_name = f"Zósimo {uuid.uuid4().int % 10**6}"  # never rendered before this test
    with repo.sessions.begin() as s:  # imported after the campaign started
        campaign = s.get(Campaign, cid)
        assert campaign is not None and campaign.state == CampaignState.ACTIVE
        s.add(Contact(campaign=campaign, external_id="LATE", name=late_name, created_at=now,
                      fields={**person, "amount": "777.25"}, phones=[Phone(number="+34611100002")]))  # fmt: skip
        s.add(Contact(campaign=campaign, external_id="BAD", name="Eva", created_at=now,
                      fields={**person, "amount": "doce"}, phones=[Phone(number="+34611100003")]))  # fmt: skip
    screen = prerender.ContactScreen(campaign)
    plans = repo.claim(cid, 5, now, screen=screen)
    assert sorted(p.number for p in plans) == ["+34611100001", "+34611100002"]  # audio or not: claimed
    texts = screen.take([p.contact_id for p in plans])
    late = next(p for p in plans if p.external_id == "LATE")
    assert any(late_name in text.replace(WORD, " ") for text in texts[late.contact_id])  # its own sentences, to prepare now
    assert screen.texts == {}  # handed over once
    with repo.sessions() as s:
        bad = s.scalars(select(Contact).where(Contact.external_id == "BAD")).one()
        assert bad.disposition == Disposition.PENDING and bad.live_attempt_id is None and bad.attempts == 0
        assert bad.parked_reason == ("its fields cannot be spoken (amount: 'doce' is not a number): "
                                     "correct the contact")  # fmt: skip
        assert bad.next_attempt_at is not None and bad.next_attempt_at > now
        lines = explain_contact(s, bad, now + timedelta(seconds=1))
    assert any(line.startswith("not due: parked: its fields cannot be spoken") for line in lines), lines



class AudioFails:
    """An IVR host whose preparation of a contact's audio failed (a TTS error on its sentence)."""

    async def audio_ready(self, _prep: object) -> str:
        return "its audio could not be prepared: gTTS refused the text"

    def call_over(self, _contact_id: int) -> None:
        pass


async def test_a_contact_whose_audio_cannot_be_prepared_at_its_claim_is_parked_not_sent(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    cid = make_campaign(url, "tts-down", ["+34611100001"], people=[PERSON], flow="collections", render=False)
    repo = Repository(db.session_factory(db.make_engine(url)))
    [plan] = repo.claim(cid, 1)
    engine = Engine(repo, AmiSettings(port=1), EngineSettings(journal=tmp_path / "j.jsonl"))
    engine.ivr = AudioFails()  # type: ignore[assignment]
    campaign = repo.campaign(cid)
    assert campaign is not None
    await engine._call(campaign, plan, LiveCall(plan.attempt_id, cid, plan.contact_id), audio=object())  # type: ignore[arg-type]
    now = datetime.now(UTC)
    with repo.sessions() as s:
        contact = s.get_one(Contact, plan.contact_id)
        assert contact.live_attempt_id is None and contact.attempts == 0  # never sent, counts for nothing
        assert contact.parked_reason == "its audio could not be prepared: gTTS refused the text"
        assert contact.next_attempt_at is not None and contact.next_attempt_at > now  # not claimed again at once
        lines = explain_contact(s, contact, now)
    assert any(line.startswith("not due: parked: its audio could not be prepared") for line in lines), lines
    engine.sql.close()
    engine.recorder.sql.close()

async def test_an_attempt_sql_cannot_read_is_hung_up_at_once_as_an_ivr_error(tmp_path: Path) -> None:
    _repo, attempt_id, call = _claimed(tmp_path)
    gone = db.session_factory(db.make_engine(f"sqlite:///{tmp_path}/no-such-dir/d.db"))  # SQL refuses
    service = IvrService(gone, tracker=Tracker(call))
    channel = FakeChannel([])
    channel.variables["DIALER_ATTEMPT"] = attempt_id
    channel.attempt_id = attempt_id  # admitted by the FastAGI server's gate (tests/test_ivr_trust.py)
    await asyncio.wait_for(service.handle(channel), 5)
    assert channel.hung_up and channel.played == []  # no dead air while SQL is away
    assert call.outcome == Outcome.IVR_ERROR and "could not be read from SQL" in call.details["error"]
    service.sql.close()


async def test_the_daemon_renders_the_shared_prompts_and_again_as_days_pass(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))  # nothing rendered yet
    url = new_database(str(tmp_path / "d.db"))
    person = PERSON
    cid = make_campaign(url, "ran-out", ["+34611100001"], people=[person], flow="collections",
                        settings={"company": "Gas Sur", "currency": "ARS"}, render=False)
    repo = Repository(db.session_factory(db.make_engine(url)))
    campaign = repo.campaign(cid)
    assert campaign is not None
    clock = [datetime.now(UTC)]
    host = IvrHost(repo.sessions, AgiSettings(), clock=lambda: clock[0])
    with repo.sessions() as s:
        book, texts = prerender.shared_texts(campaign, clock[0])
    assert len(texts) > 30 and all(book.lookup_text(text) is None for text in texts)
    try:
        assert await host.may_dial(campaign, repo)  # rendered in the pool, not paused
        assert all(book.lookup_text(text) is not None for text in texts)
        clock[0] += timedelta(days=10)  # the read-backs rendered at the start ran out: new days
        with repo.sessions() as s:
            _book, later = prerender.shared_texts(campaign, clock[0])
        assert [text for text in later if book.lookup_text(text) is None]
        assert await host.may_keep_dialing(campaign, repo)
        assert all(book.lookup_text(text) is not None for text in later)
    finally:
        await host.close(1.0)
    still = repo.campaign(cid)
    assert still is not None and still.state == CampaignState.ACTIVE

