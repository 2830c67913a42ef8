"""The HTTP face without a browser: the guard, login, CSRF, the audited buttons, /metrics' token,
labels, settings and `dialer users`."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli import app as cli_app
from dialer.config import ConfigError
from dialer.domain import AttemptState, CampaignState, DialResult
from dialer.runtime import metrics
from dialer.storage import db
from dialer.storage.models import Attempt, Contact
from dialer.storage.web_models import Audit, WebSession
from dialer.web.i18n import LABELS, pick_language
from dialer.web.passwords import PasswordError, hash_password, verify_password
from dialer.web.settings import WebSettings
from tests.campaigns import campaign_row, make_campaign, new_database
from tests.web_parts import PASSWORD, Pokes, add_user, client, csrf_of, log_in

pytestmark = pytest.mark.web


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = new_database(str(tmp_path / "web.db"))
    add_user(url)
    return url


def audit_rows(url: str) -> list[Audit]:
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        rows = list(s.scalars(select(Audit).order_by(Audit.id)))
    engine.dispose()
    return rows


async def test_without_a_session_pages_redirect_and_the_rest_is_401(url: str) -> None:
    async with client(url) as c:
        r = await c.get("/campaigns/x", headers={"Accept": "text/html"}, allow_redirects=False)
        assert r.status == 302 and unquote(r.headers["Location"]) == "/login?next=/campaigns/x"
        for path in ("/events", "/campaigns/x/events", "/metrics"):
            assert (await c.get(path)).status == 401, path
        assert (await c.post("/campaigns/x/pause", data={"csrf": "x"})).status == 401
        assert (await c.get("/healthz")).status == 200


async def test_login_sets_a_strict_httponly_cookie_and_wrong_passwords_are_audited(url: str) -> None:
    async with client(url, WebSettings()) as c:  # the default: Secure cookies (so sent back by hand over http)
        r = await c.get("/login")
        csrf = csrf_of(await r.text())
        sent = {"dialer_login": csrf}
        r = await c.post("/login", data={"user": "ana", "password": "wrong password", "csrf": csrf}, cookies=sent)
        assert r.status == 401 and "Wrong user or password" in await r.text()
        r = await c.post("/login", data={"user": "ana", "password": PASSWORD}, cookies=sent, allow_redirects=False)
        assert r.status == 403  # the login form's own CSRF token is missing
        r = await c.post("/login", data={"user": "ana", "password": PASSWORD, "csrf": csrf, "next": "//evil"},
                         cookies=sent, allow_redirects=False)  # fmt: skip
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("dialer_session="))
        assert {"HttpOnly", "Secure", "SameSite=Strict"} <= {p.strip() for p in cookie.split(";")}
    rows = [(a.actor, a.action, a.result) for a in audit_rows(url)]
    assert rows == [("user:ana", "login", "refused"), ("user:ana", "login", "ok")]


async def test_a_post_without_the_csrf_token_is_refused_and_with_it_pauses(url: str) -> None:
    cid = make_campaign(url, "march", ["+34611100000"], render=False)
    pokes = Pokes()
    async with client(url, live=pokes) as c:
        csrf = await log_in(c)
        page = await (await c.get("/campaigns/march")).text()
        assert 'id="pause"' in page and csrf_of(page) == csrf
        r = await c.post("/campaigns/march/pause", data={"csrf": "not-the-token"}, allow_redirects=False)
        assert r.status == 403 and campaign_row(url, cid).state == CampaignState.ACTIVE
        r = await c.post("/campaigns/march/pause", data={}, allow_redirects=False)
        assert r.status == 403 and campaign_row(url, cid).state == CampaignState.ACTIVE
        r = await c.post("/campaigns/march/pause", data={"csrf": csrf}, allow_redirects=False)
        assert r.status == 303 and campaign_row(url, cid).state == CampaignState.PAUSED and pokes.pokes == 1
        r = await c.post("/campaigns/march/pause", headers={"X-CSRF-Token": csrf}, allow_redirects=False)
        assert r.status == 409 and "already paused" in await r.text()
        r = await c.post("/campaigns/march/resume", headers={"X-CSRF-Token": csrf}, allow_redirects=False)
        assert r.status == 303 and campaign_row(url, cid).state == CampaignState.ACTIVE
        assert "campaign.resume" in await (await c.get("/campaigns/march")).text()  # the page shows the trail
    trail = [(a.actor, a.action, a.target, a.result, a.details) for a in audit_rows(url) if a.action != "login"]
    assert trail == [
        ("user:ana", "csrf", "/campaigns/march/pause", "refused", {}),
        ("user:ana", "csrf", "/campaigns/march/pause", "refused", {}),
        ("user:ana", "campaign.pause", "campaign:march", "ok", {"from": "active", "to": "paused"}),
        ("user:ana", "campaign.pause", "campaign:march", "refused", {}),
        ("user:ana", "campaign.resume", "campaign:march", "ok", {"from": "paused", "to": "active"}),
    ]


async def test_logout_ends_the_session(url: str) -> None:
    async with client(url) as c:
        csrf = await log_in(c)
        r = await c.post("/logout", data={"csrf": csrf}, allow_redirects=False)
        assert r.status == 303
        assert (await c.get("/events")).status == 401
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        assert s.scalars(select(WebSession)).all() == []
    engine.dispose()


async def test_metrics_take_the_bearer_token_and_a_session(url: str) -> None:
    metrics.ORIGINATES.labels("unit", "Local/{number}@sim-customers").inc()
    token = "t" * 24
    async with client(url, WebSettings(secure_cookies=False, metrics_token=token)) as c:
        assert (await c.get("/metrics", headers={"Authorization": "Bearer " + "x" * 24})).status == 401
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        assert 'dialer_originates_total{campaign="unit",trunk="Local/{number}@sim-customers"}' in await r.text()
        # the token opens /metrics only
        assert (await c.get("/events", headers={"Authorization": f"Bearer {token}"})).status == 403
        await log_in(c)
        assert (await c.get("/metrics")).status == 200


async def test_the_campaign_page_speaks_spanish_and_polish(url: str) -> None:
    make_campaign(url, "abril", ["+34611100000"], render=False)
    async with client(url) as c:
        await log_in(c)
        assert "Llamadas en curso" in await (await c.get("/campaigns/abril?lang=es")).text()
        assert "Llamadas en curso" in await (await c.get("/campaigns/abril")).text()  # remembered
        assert "Trwające połączenia" in await (await c.get("/campaigns/abril?lang=pl")).text()
        assert (await c.get("/campaigns/nope", headers={"Accept": "text/html"})).status == 404


def test_every_language_has_every_label() -> None:
    keys = set(LABELS["en"])
    for lang in ("es", "pl"):
        assert keys <= set(LABELS[lang]), (lang, keys - set(LABELS[lang]))
    assert pick_language(None, None, "pl-PL,pl;q=0.9,en;q=0.5", "en") == "pl"
    assert pick_language("es", "pl", "en", "en") == "es"
    assert pick_language(None, None, "de", "en") == "en"


def test_passwords_are_salted_scrypt() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$16384$8$1$") and PASSWORD not in first
    assert verify_password(PASSWORD, first) and not verify_password("wrong one!", first)
    assert not verify_password(PASSWORD, None) and not verify_password(PASSWORD, "md5$x")
    with pytest.raises(PasswordError, match="shorter than 10"):
        hash_password("short")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALER_WEB_PORT", raising=False)
    assert WebSettings.from_env() is None
    monkeypatch.setenv("DIALER_WEB_PORT", "8090")
    found = WebSettings.from_env()
    assert found is not None and (found.host, found.port, found.secure_cookies) == ("127.0.0.1", 8090, True)
    for name, value, message in [("DIALER_WEB_PORT", "http", "DIALER_WEB_PORT: expected an integer"),
                                 ("DIALER_WEB_LANGUAGE", "de", "DIALER_WEB_LANGUAGE: 'de' is not one of"),
                                 ("DIALER_WEB_METRICS_TOKEN", "short", "shorter than 16")]:  # fmt: skip
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(ConfigError, match=message):
                WebSettings.from_env()
    monkeypatch.setenv("DIALER_WEB_SECURE_COOKIES", "0")
    monkeypatch.setenv("DIALER_WEB_HOST", "0.0.0.0")
    with pytest.raises(ConfigError, match="only for a server bound to this host"):
        WebSettings.from_env()


def test_users_cli_adds_and_removes(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "u.db"))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["users", "add", "jan", "--password-stdin", "--language", "pl", "--url", url],
                           input=PASSWORD + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    again = runner.invoke(cli_app, ["users", "add", "jan", "--password-stdin", "--url", url], input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(cli_app, ["users", "add", "eva", "--password-stdin", "--url", url], input="short\n")
    assert short.exit_code == 1 and "shorter than 10" in short.output
    assert "jan\tpl" in runner.invoke(cli_app, ["users", "list", "--url", url]).output
    assert runner.invoke(cli_app, ["users", "remove", "jan", "--url", url]).exit_code == 0
    gone = runner.invoke(cli_app, ["users", "remove", "jan", "--url", url])
    assert gone.exit_code == 1 and "no user named 'jan'" in gone.output
    assert [(a.action, a.target) for a in audit_rows(url)] == [("user.add", "user:jan"), ("user.remove", "user:jan")]


def test_the_html_report_is_one_standalone_file(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "r.db"))
    cid = make_campaign(url, "mayo", ["+34611100000", "+34611100001"], render=False)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).first()
        assert contact is not None
        now = datetime.now(UTC)
        s.add(Attempt(id="a" * 36, campaign_id=cid, contact_id=contact.id, phone_id=contact.phones[0].id,
                      number="+34611100000", created_at=now, originated_at=now, state=AttemptState.ENDED,
                      dial_result=DialResult.BUSY, reason="busy"))  # fmt: skip
    engine.dispose()
    out = tmp_path / "mayo.html"
    result = CliRunner().invoke(cli_app, ["report", "mayo", "--format", "html", "--language", "pl", "--url", url,
                                          "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Raport: mayo" in page and "Wskaźnik kontaktu" in page and '"busy": 1' in page
    assert "uPlot" in page and "<script src" not in page and "<link" not in page and "http" not in page.split("<style>")[0]
    bad = CliRunner().invoke(cli_app, ["report", "nope", "--format", "html", "--url", url])
    assert bad.exit_code == 1 and "unknown campaign 'nope'" in bad.output


async def test_five_failed_logins_lock_the_name_for_a_while(url: str) -> None:
    async with client(url) as c:
        form = await (await c.get("/login")).text()
        for _ in range(5):
            r = await c.post("/login", data={"user": "ana", "password": "not her password", "csrf": csrf_of(form)})
            assert r.status == 401
        r = await c.post("/login", data={"user": "ana", "password": PASSWORD, "csrf": csrf_of(form)})
        assert r.status == 429 and "too many failed logins" in await r.text()
    notes = [a.note for a in audit_rows(url)]
    assert notes == ["wrong user or password"] * 5 + ["5 failures: locked for a while"]


def test_dialer_run_says_when_the_dashboards_port_is_taken(tmp_path: Path) -> None:
    url = new_database(str(tmp_path / "d.db"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["run", "--url", url], env={
            "DIALER_SANDBOX": "1", "DIALER_WEB_PORT": str(port), "DIALER_AMI_PORT": "1", "DIALER_AGI_PORT": "0"})  # fmt: skip
    assert result.exit_code == 1 and "cannot start" in result.output and str(port) in result.output, result.output


async def test_the_loop_lag_and_read_gauges_are_observed() -> None:
    stop = asyncio.Event()
    before = metrics.LOOP_LAG._sum.get()  # noqa: SLF001 - the histogram's running sum
    count = sum(1 for m in metrics.REGISTRY.collect() if m.name == "dialer_event_loop_lag_seconds")
    watcher = asyncio.create_task(metrics.watch_loop_lag(stop, every_s=0.02))
    await asyncio.sleep(0.05)
    time.sleep(0.1)  # the loop held up: the next timer is late by about this much
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(watcher, 5)
    assert count == 1 and metrics.LOOP_LAG._sum.get() - before >= 0.05  # noqa: SLF001
    metrics.watch(metrics.AUDIO_QUEUE, lambda: 1 / 0)  # a broken reader: NaN, never a failed scrape
    assert "dialer_audio_prepare_queue NaN" in metrics.exposition().decode()
    metrics.watch(metrics.AUDIO_QUEUE, lambda: 3)
    assert "dialer_audio_prepare_queue 3.0" in metrics.exposition().decode()
