"""`dialer prompts render`: everything a campaign plays, rendered ahead; the daemon's check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydub import AudioSegment
from typer.testing import CliRunner

from dialer.ivr import prerender
from dialer.ivr.flow import load
from dialer.ivr.prompt_book import PromptBook, PromptMissing
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.models import Campaign
from prompts.cache import PromptCache
from tests.campaigns import make_campaign, new_database

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)  # 13:00 in Madrid: the contacts' 23 November
PEOPLE = [
    {"name": "Ana Pérez", "amount": "12500", "due_date": "2026-11-20", "concept": "la factura de gas"},
    {"name": "Luis Gómez", "amount": "99.5", "due_date": "2026-12-01", "concept": "la cuota"},
]


def _campaign(url: str, flow: str = "collections", people: list[dict[str, str]] = PEOPLE) -> Campaign:
    cid = make_campaign(url, f"c-{flow}", [sim_number("human", tag=i) for i in range(len(people))], people=people,
                        render=False, flow=flow, settings={"company": "Gas Sur", "currency": "ARS"})
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        s.expunge(campaign)
    engine.dispose()
    return campaign


def test_plan_lists_shared_prompts_date_readbacks_and_personal_sentences(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    campaign = _campaign(url)
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        found = prerender.plan(s, campaign, NOW, horizon_days=0)
    engine.dispose()
    texts = [job.text for job in found.jobs]
    assert found.errors == [] and found.contacts == 2
    assert "Hola, le llamamos de Gas Sur." in texts
    assert "Registramos un saldo pendiente de doce mil quinientos pesos por la factura de gas, con vencimiento " \
           "el veinte de noviembre." in texts
    assert "Esta es una llamada para Luis Gómez. Si usted es Luis Gómez, presione uno." in texts
    readbacks = [t for t in texts if t.startswith("Usted se compromete a pagar")]
    assert len(readbacks) == 31  # today and the 30 days a promise may name
    assert readbacks[0] == "Usted se compromete a pagar el veintitrés de noviembre. Si es correcto, presione uno. " \
                           "Para corregirlo, presione dos."
    assert len(texts) == len(set(texts))


def test_render_then_the_check_passes_and_calls_find_every_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))
    url = new_database(str(tmp_path / "d.db"))
    campaign = _campaign(url, "survey")
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        before = prerender.check(s, campaign, NOW)
        assert not before.ok and before.missing > 0
        assert "run `dialer prompts render c-survey`" in before.message("c-survey")
        found = prerender.plan(s, campaign, NOW)
        assert prerender.render(found, workers=2) == len(found.jobs)
        assert prerender.check(s, campaign, NOW).ok
        again = prerender.plan(s, campaign, NOW)
        assert prerender.render(again) == 0  # all cache hits
    engine.dispose()
    book = PromptBook(load("survey"), "es", campaign.settings)
    path = book.path("greeting", book.contact_values("Ana", {}))
    audio = AudioSegment.from_wav(path)
    assert (audio.frame_rate, audio.channels, audio.sample_width) == (8000, 1, 2) and audio.duration_seconds > 0.5
    with pytest.raises(PromptMissing, match="prompts render"):
        book.path("debt_message", book.contact_values("Ana", {"amount": "1", "due_date": "2026-01-01", "concept": "x"}))


def test_a_contact_with_a_bad_field_is_named(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    people = [PEOPLE[0], {"name": "Eva", "amount": "doce", "due_date": "2026-11-20", "concept": "x"},
              {"name": "Juan", "amount": "10"}]
    campaign = _campaign(url, people=people)
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        found = prerender.plan(s, campaign, NOW)
        check = prerender.check(s, campaign, NOW)
    engine.dispose()
    assert found.errors == [  # every field of a contact at once, not one per run
        "contact C1: amount: 'doce' is not a number",
        "contact C2: concept: missing (the campaign's prompts say {concept}); "
        "due_date: missing (the campaign's prompts say {due_date})",
    ]
    assert not check.ok and len(check.errors) == 2


def test_cli_render_shows_counts_and_fails_on_unknown_campaign(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import app

    monkeypatch.setenv("DIALER_CACHE_DIR", str(tmp_path / "cache"))
    url = new_database(str(tmp_path / "d.db"))
    _campaign(url, "survey", PEOPLE[:1])
    runner = CliRunner()
    first = runner.invoke(app, ["prompts", "render", "c-survey", "--url", url])
    assert first.exit_code == 0, first.output
    assert "7 prompts for 1 pending contacts: 7 rendered, 0 already in the cache" in first.output
    second = runner.invoke(app, ["prompts", "render", "c-survey", "--url", url])
    assert "0 rendered, 7 already in the cache" in second.output
    missing = runner.invoke(app, ["prompts", "render", "nope", "--url", url])
    assert missing.exit_code == 1 and "unknown campaign 'nope'" in missing.output
    assert len(list(PromptCache(tmp_path / "cache" / "prompts").root.glob("*/*.wav"))) == 7
