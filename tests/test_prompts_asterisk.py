"""Prompts rendered the fast way (libespeak-ng in process, spliced, resampled here) play in Asterisk.

Each call is a Local channel: its far half plays one rendered file ([sim-bench-say] exten
sentence, which times the playback with Asterisk's clock), its near half listens
([sim-test-hear]) and reports that it heard speech. The calls run side by side.
"""

from __future__ import annotations

import asyncio
import uuid
import wave
from pathlib import Path

import pytest

from dialer.ami import AmiClient
from dialer.ivr.flow import load
from dialer.ivr.prompt_book import PromptBook
from prompts.cache import PromptCache, playback_name
from prompts.splice import SEP

pytestmark = pytest.mark.asterisk

PERSON = {"amount": "12500.50", "due_date": "2026-11-20", "concept": "la factura de gas"}


async def play(ami: AmiClient, path: Path) -> dict[str, object]:
    call_id = str(uuid.uuid4())
    marks: dict[str, object] = {}
    with ami.events(["UserEvent"]) as stream:
        response = await ami.originate(channel="Local/sentence@sim-bench-say/n", context="sim-test-hear",
                                       channel_id=call_id, timeout_ms=10000,
                                       variables={"SENTENCE": playback_name(path), "LANG": "es", "ID": call_id})  # fmt: skip
        assert response.get("Response") == "Success", response
        while not {"end", "heard"} <= marks.keys():
            event = await stream.wait_for(
                lambda e: e.get("Id") == call_id or (e.get("UserEvent") == "SimHeard" and e.get("Uniqueid") == call_id),
                30,
            )
            if event.get("UserEvent") == "SimHeard":
                marks["heard"] = event.get("Noise")
            else:
                marks[str(event.get("Mark"))] = float(str(event.get("T")))
                marks.setdefault("status", event.get("Status"))
                if event.get("Mark") == "end":
                    marks["status"] = event.get("Status")
    return marks


async def test_spliced_prompts_play_whole_and_are_heard(ami: AmiClient) -> None:
    book = PromptBook(load("collections"), "es", {"company": "Gas Sur", "currency": "ARS"}, PromptCache())
    jobs = [job for job in book.contact_jobs("c1", "Ana Pérez", PERSON) if job.key in ("debt_message", "identity_question")]
    assert len(jobs) == 2 and all(SEP in job.render_text for job in jobs)
    paths = [book.render(job) for job in jobs]  # the cache the sandbox mounts
    results = await asyncio.gather(*(play(ami, path) for path in paths))
    for path, marks in zip(paths, results, strict=True):
        with wave.open(str(path)) as wav:
            seconds = wav.getnframes() / wav.getframerate()
        assert marks["status"] == "SUCCESS" and marks["heard"] == "NOISE", marks
        played = float(str(marks["end"])) - float(str(marks["start"]))
        assert abs(played - seconds) < 0.5, (played, seconds)  # the whole file played, no more
