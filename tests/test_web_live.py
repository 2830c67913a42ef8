"""The dashboard and /metrics of a real `dialer run` dialing the sandbox Asterisk: headless Chromium
(Debian's, driven by Playwright) watches the live counter rise, logs in and pauses the campaign;
promtool accepts /metrics and a real Prometheus scrapes it. Figures are printed (run with -s)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select

from dialer.domain import CampaignState
from dialer.sandbox.instance import Sandbox
from dialer.sandbox.sim import sim_number
from dialer.storage import db
from dialer.storage.web_models import Audit
from tests.campaigns import attempts, campaign_row, free_port, make_campaign, new_database
from tests.daemons import start_daemon, stop_daemon, wait_for
from tests.web_parts import PASSWORD, add_user

pytestmark = [pytest.mark.web, pytest.mark.asterisk]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
TOKEN = "prometheus-test-token-0123456789"
NAME = "web-live"


@dataclass
class Daemon:
    url: str
    cid: int
    base: str
    log: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def daemon(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """`dialer run` with the dashboard on a free port, dialing 40 people at 2 calls/s, 4 at a time
    (most hang up 3 s after answering; some are busy or never answer)."""
    tmp = tmp_path_factory.mktemp("web")
    url = new_database(str(tmp / "web.db"))
    add_user(url)
    kinds = ["hangup", "hangup", "hangup", "busy", "hangup", "congestion", "hangup", "invalid"]
    numbers = [sim_number(k, hangup_after_s=3, tag=i) if k == "hangup" else sim_number(k, tag=i)
               for i, k in enumerate(kinds * 5)]  # fmt: skip
    cid = make_campaign(url, NAME, numbers, max_concurrent=4, calls_per_second=2)
    port = free_port()
    log = tmp / "daemon.log"
    proc = start_daemon(url, sandbox, log, {"DIALER_WEB_PORT": str(port), "DIALER_WEB_SECURE_COOKIES": "0",
                                            "DIALER_WEB_METRICS_TOKEN": TOKEN})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{base}/healthz") == "ok\n", 30, "the dashboard")
        yield Daemon(url, cid, base, log, proc)
    finally:
        if proc.poll() is None:
            assert stop_daemon(proc) == 0, log.read_text()[-3000:]


def _get(url: str, token: str | None = None) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def _number(page: Page, selector: str) -> int:
    return int(page.inner_text(selector).strip() or 0)


def test_a_supervisor_watches_the_campaign_live_and_pauses_it(daemon: Daemon, tmp_path: Path) -> None:
    shots = Path(os.environ.get("DIALER_SCREENSHOTS") or tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # Playwright's waits evaluate strings, which the pages' CSP forbids: this context bypasses
            # it; the strict page below shows the pages need nothing the CSP forbids
            page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)
            page.goto(f"{daemon.base}/campaigns/{NAME}")  # no session: the login form, then back here
            assert "/login" in page.url
            page.fill("#user", "ana")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/campaigns/{NAME}")
            loads = []
            for _ in range(3):  # the page's load time, as the browser measured it
                page.goto(f"{daemon.base}/campaigns/{NAME}")
                page.wait_for_load_state("load")
                loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
            page.wait_for_function("window.dialerStats && window.dialerStats.streaming === true", timeout=10_000)
            before = _number(page, "#attempts")
            # the live counter rises while the page stays open (server-sent events, no reload)
            page.wait_for_function(f"Number(document.getElementById('attempts').textContent) >= {before + 8}",
                                   timeout=20_000)  # fmt: skip
            page.wait_for_function("Number(document.getElementById('live').textContent) > 0", timeout=10_000)
            page.wait_for_function("document.querySelector('#hourly canvas') !== null", timeout=5_000)
            page.screenshot(path=str(shots / "dashboard-campaign.png"), full_page=True)
            snapshots = page.evaluate("window.dialerStats.snapshots")
            page.on("dialog", lambda dialog: dialog.accept())  # the confirmation
            page.click("#pause")
            page.wait_for_function("document.querySelector('[data-field=state]').textContent === 'paused'",
                                   timeout=10_000)  # fmt: skip
            assert campaign_row(daemon.url, daemon.cid).state == CampaignState.PAUSED
            time.sleep(2.5)  # what the daemon would still send after the pause
            paused_at = _audit_at(daemon.url, "campaign.pause")
            late = [a for a in attempts(daemon.url, daemon.cid) if a.created_at > paused_at]
            last = max(a.created_at for a in attempts(daemon.url, daemon.cid))
            assert not [a for a in late if a.created_at > paused_at + timedelta(seconds=1)], late
            strict = page.context.browser.new_context(viewport={"width": 1200, "height": 700})  # CSP on
            strict.add_cookies(page.context.cookies())
            complaints: list[str] = []
            listing = strict.new_page()
            listing.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
            listing.goto(f"{daemon.base}/campaigns/{NAME}")
            listing.wait_for_selector("#hourly canvas")
            listing.goto(f"{daemon.base}/campaigns")
            listing.wait_for_selector("#campaigns tbody a")
            listing.screenshot(path=str(shots / "dashboard-campaigns.png"), full_page=True)
            assert not complaints, complaints
        finally:
            browser.close()
    lags = [s["lag_ms"] for s in snapshots[1:] if s["lag_ms"] is not None]
    seen = _db_to_screen(daemon, snapshots)
    print(f"\nweb figures: page load {statistics.median(loads):.0f} ms (median of {loads}); SSE send->handled "
          f"median {statistics.median(lags):.0f} ms, max {max(lags):.0f} ms over {len(lags)} updates; "
          f"attempt committed->on screen median {statistics.median(seen):.0f} ms, max {max(seen):.0f} ms "
          f"({len(seen)} rises); after the pause: {len(late)} attempts, the last "
          f"{(last - paused_at).total_seconds() * 1000:.0f} ms after it")  # fmt: skip


def _audit_at(url: str, action: str):  # type: ignore[no-untyped-def]
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        at = s.scalars(select(Audit.at).where(Audit.action == action, Audit.result == "ok")).one()
    engine.dispose()
    return at


def _db_to_screen(daemon: Daemon, snapshots: list[dict]) -> list[float]:  # type: ignore[type-arg]
    """For each rise of the attempts counter in the browser: when it showed N, less when the Nth
    attempt was committed (the same machine's clock)."""
    created = sorted(a.created_at.timestamp() * 1000 for a in attempts(daemon.url, daemon.cid))
    out, shown = [], None
    for s in snapshots:
        n = s["attempts"]
        if shown is not None and n > shown and n <= len(created):
            out.append(s["at"] - created[n - 1])
        shown = n
    return out


def test_promtool_accepts_metrics_and_prometheus_scrapes_them(daemon: Daemon, tmp_path: Path) -> None:
    assert _get(f"{daemon.base}/metrics") == ""  # no token: 401
    wait_for(lambda: 'dialer_originates_total{campaign="web-live"' in _get(f"{daemon.base}/metrics", TOKEN), 20,
             "an Originate counted")  # fmt: skip
    body = _get(f"{daemon.base}/metrics", TOKEN)
    for name in ("dialer_live_calls", "dialer_attempt_endings_total", "dialer_ami_up 1.0", "dialer_sql_duration_seconds_bucket",
                 "dialer_event_loop_lag_seconds_count", "dialer_fastagi_sessions_total", "dialer_audio_prepare_queue",
                 "dialer_mqtt_dropped_events_total", "dialer_ami_reconnects_total"):  # fmt: skip
        assert name in body, name
    assert "+346" not in body  # no contact data in labels
    check = subprocess.run(["promtool", "check", "metrics"], input=body.encode(), capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    (tmp_path / "token").write_text(TOKEN)
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: dialer
    authorization: {{credentials_file: {tmp_path / 'token'}}}
    static_configs: [{{targets: ['{daemon.base[7:]}']}}]
""")
    out = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([shutil.which("prometheus") or "prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        query = f"http://127.0.0.1:{prom_port}/api/v1/query?query=sum(dialer_originates_total)"
        started = time.monotonic()

        def scraped() -> bool:
            found = json.loads(_get(query) or "{}").get("data", {}).get("result", [])
            return bool(found) and float(found[0]["value"][1]) > 0

        wait_for(scraped, 20, "Prometheus to scrape the dialer")
        print(f"\nPrometheus: first sample of dialer_originates_total after {time.monotonic() - started:.1f} s")
        up = json.loads(_get(f"http://127.0.0.1:{prom_port}/api/v1/query?query=up")).get("data", {}).get("result")
        assert up and up[0]["value"][1] == "1", up
    finally:
        prom.terminate()
        prom.wait(timeout=10)
        out.close()
