"""A flow error is not "answered" (issue 12, item 4), against the sandbox Asterisk: a recording
that goes missing mid-call ends as `ivr_error` with the promise already captured kept, and a
contact imported after the start is called, its audio prepared at its claim."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dialer.config import EngineSettings, prompt_cache_dir
from dialer.domain import AttemptState, Disposition, Outcome
from dialer.engine import Engine
from dialer.engine.ivr_host import IvrHost
from dialer.sandbox.instance import Sandbox
from dialer.storage import db
from dialer.storage.ivr_store import events_of
from dialer.storage.models import Campaign, Contact, Phone
from dialer.storage.repository import Repository
from prompts.cache import PromptCache
from tests.campaigns import attempts, contacts, make_campaign, new_database
from tests.test_ivr_asterisk import PERSON, PROMISE, scripted

pytestmark = pytest.mark.asterisk
FLOW = Path(__file__).resolve().parent / "flows" / "promise_errors.toml"


class Steps:
    """Live events (the MQTT publisher's place): the IVR steps calls have reached."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "ivr_step":
            self.reached.append(payload["step"])


def _late_contact(url: str, campaign_id: int) -> None:
    """A contact imported after the campaign started: its personal sentences have no audio yet."""
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        campaign = s.get(Campaign, campaign_id)
        s.add(Contact(campaign=campaign, external_id="LATE", name=f"Zósimo {uuid.uuid4().int % 10**6}",
                      created_at=datetime.now(UTC), fields=dict(PERSON),
                      phones=[Phone(number="+34611199999")]))  # fmt: skip
    engine.dispose()


async def test_a_recording_gone_mid_call_is_an_ivr_error_and_the_promise_is_kept(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    recording = prompt_cache_dir() / "test-recordings" / f"thanks-{uuid.uuid4().hex}.wav"
    recording.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PromptCache().render("Gracias.", "es"), recording)  # the operator's own recording
    settings = {"company": "Gas Sur", "currency": "ARS", "retries": {"max_attempts": 2},
                "flow_file": str(FLOW), "prompts": {"es": {"ptp_thanks": {"file": str(recording)}}}}
    url = new_database(str(tmp_path / "d.db"))
    number = scripted(sandbox, 601, ["1", PROMISE.strftime("%d%m"), "1"])
    cid = make_campaign(url, "lost-recording", [number], people=[PERSON], flow="collections",
                        settings=settings, ring_timeout_s=10)
    repo = Repository(db.session_factory(db.make_engine(url)))
    steps = Steps()
    engine = Engine(repo, sandbox.ami, EngineSettings(agi_url=sandbox.agi.url, poll_s=0.2, drain_timeout_s=5),
                    IvrHost(repo.sessions, sandbox.agi), events=steps)  # fmt: skip
    stop = asyncio.Event()

    async def operator() -> None:
        while "identity" not in steps.reached:  # the flow is loaded and the caller hears the question
            await asyncio.sleep(0.1)
        recording.unlink()  # replaced or deleted while the caller hears the debt message
        _late_contact(url, cid)
        while not (all(a.state == AttemptState.ENDED for a in attempts(url, cid))
                   and len(attempts(url, cid)) == 2):  # fmt: skip
            await asyncio.sleep(0.2)
        stop.set()

    await asyncio.wait_for(asyncio.gather(engine.run(stop), operator()), 120)
    (attempt,) = [a for a in attempts(url, cid) if a.number != "+34611199999"]
    assert (attempt.outcome, attempt.step_reached) == (Outcome.IVR_ERROR, "ptp_thanks")
    assert attempt.reason is not None and attempt.reason.startswith("IVR error: STREAM FILE")
    events = events_of(repo.sessions, attempt.id)
    facts = [e for e in events if e.kind == "fact" and e.name == "promise_to_pay"]
    assert len(facts) == 1 and json.loads(facts[0].value or "{}")["date"] == PROMISE.isoformat()
    person, late = contacts(url, cid)
    assert person.disposition == Disposition.PENDING and person.attempts == 1  # not reached: called again
    assert person.next_attempt_at is not None
    assert person.next_attempt_at > datetime.now(UTC) + timedelta(minutes=25)  # retries.delay_s.ivr_error
    assert late.attempts == 1 and late.parked_reason is None  # claimed, its audio prepared, called
    with repo.sessions() as s:
        assert s.scalars(select(Campaign.state).where(Campaign.id == cid)).one().value == "active"
