"""The HTTP API (/api/v1) through a real server on a free port: keys and scopes, the rate limit,
audit rows, campaigns, contacts in batches (all or nothing, idempotent), results after a cursor,
DNC, payments, and the OpenAPI document (validated, and the same routes as the app)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from openapi_spec_validator import validate
from sqlalchemy import select
from typer.testing import CliRunner

from cli import app as cli_app
from dialer.domain import AttemptState, Disposition, Outcome
from dialer.storage import db
from dialer.storage.models import Attempt, Contact, IvrEvent
from dialer.storage.web_models import Audit
from dialer.web.api import PREFIX
from dialer.web.api_results import SETTLE_S
from dialer.web.context import DEPS
from tests.api_parts import add_key, api_server, call
from tests.campaigns import contacts, make_campaign, new_database

pytestmark = pytest.mark.api


def _audit(url: str) -> list[Audit]:
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        rows = list(s.scalars(select(Audit).where(Audit.actor.like("key:%")).order_by(Audit.id)))
    engine.dispose()
    return rows


async def test_keys_scopes_and_audit(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    make_campaign(url, "debts", ["+34611100000"], render=False)
    reader, writer = add_key(url, "viewer", "read"), add_key(url, "crm", "write")
    async with api_server(url) as (base, _app), aiohttp.ClientSession() as http:
        assert (await call(http, "GET", f"{base}/campaigns"))[0] == 401  # no key
        assert (await call(http, "GET", f"{base}/campaigns", "dk_not-a-key"))[0] == 401
        status, body, _ = await call(http, "GET", f"{base}/campaigns", reader)
        assert status == 200 and [c["name"] for c in body["campaigns"]] == ["debts"]
        status, body, _ = await call(http, "GET", f"{base}/campaigns/debts", reader)
        assert status == 200 and body["state"] == "active" and body["contacts"] == 1
        assert (await call(http, "GET", f"{base}/campaigns/nope", reader))[0] == 404
        assert (await call(http, "POST", f"{base}/campaigns/debts/pause", reader))[0] == 403  # read key, write route
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/pause", writer)
        assert (status, body) == (200, {"campaign": "debts", "from": "active", "to": "paused"})
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/pause", writer)
        assert status == 409 and "paused" in body["error"]
    rows = _audit(url)
    assert [(a.actor, a.action, a.target, a.result) for a in rows] == [
        ("key:crm", "campaign.pause", "campaign:debts", "ok"), ("key:crm", "campaign.pause", "campaign:debts", "refused")]
    assert rows[0].details == {"campaign": "debts", "from": "active", "to": "paused"}
    listed = CliRunner().invoke(cli_app, ["api-keys", "list", "--url", url])
    assert listed.exit_code == 0 and "crm\twrite" in listed.stdout and "never" not in listed.stdout.split("crm")[1]
    assert CliRunner().invoke(cli_app, ["api-keys", "remove", "crm", "--url", url]).exit_code == 0
    async with api_server(url) as (base, _app), aiohttp.ClientSession() as http:
        assert (await call(http, "GET", f"{base}/campaigns", writer))[0] == 401  # removed: refused at once
    again = CliRunner().invoke(cli_app, ["api-keys", "add", "viewer", "--url", url])
    assert again.exit_code != 0 and "already exists" in again.output


async def test_create_a_campaign_with_the_checks_of_a_campaign_file(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    reader, writer = add_key(url, "viewer", "read"), add_key(url, "crm", "write")
    good = {"name": "recibos", "flow": "collections", "language": "es", "default_region": "ES",
            "trunk_template": "Local/{number}@sim", "company": "Acme", "retries": {"max_attempts": 2}}  # fmt: skip
    bad = {"name": "", "flow": "nope", "language": "fr", "trunk_template": "Local/x", "max_concurrent": 0,
           "retries": {"max_attempts": "two"}, "colour": "red"}  # fmt: skip
    async with api_server(url) as (base, _app), aiohttp.ClientSession() as http:
        assert (await call(http, "POST", f"{base}/campaigns", reader, json=good))[0] == 403
        status, body, _ = await call(http, "POST", f"{base}/campaigns", writer, json=bad)
        assert status == 422, body
        fields = {e["field"] for e in body["errors"]}
        assert fields == {"name", "flow", "language", "default_region", "trunk_template", "max_concurrent",
                          "retries.max_attempts", "colour"}, body["errors"]  # fmt: skip
        assert all(e["reason"] for e in body["errors"])
        assert (await call(http, "POST", f"{base}/campaigns", writer, json=[1]))[0] == 422
        assert (await call(http, "POST", f"{base}/campaigns", writer, data=b"{nope"))[0] == 400
        status, body, _ = await call(http, "POST", f"{base}/campaigns", writer, json=good)
        assert status == 201 and body["campaign"] == "recibos" and body["state"] == "draft", body
        status, body, _ = await call(http, "POST", f"{base}/campaigns", writer, json=good)
        assert status == 409 and "already exists" in body["error"]
        status, body, _ = await call(http, "POST", f"{base}/campaigns", writer, json={**good, "name": "t2",
                                                                                    "trunk": "ghost"})  # fmt: skip
        assert status == 422 and body["errors"][0]["field"] == "trunk"
        status, body, _ = await call(http, "GET", f"{base}/campaigns/recibos", reader)
        assert status == 200 and body["state"] == "draft" and body["flow"] == "collections"
    assert [(a.action, a.target, a.result) for a in _audit(url)] == [
        ("campaign.create", "campaign:", "refused"), ("campaign.create", "campaign:?", "refused"),
        ("campaign.create", "campaign:recibos", "ok"), ("campaign.create", "campaign:recibos", "refused"),
        ("campaign.create", "campaign:t2", "refused")]  # fmt: skip


async def test_a_key_over_its_rate_gets_429_with_retry_after(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    key = add_key(url, "busy", "read")
    async with api_server(url, rate=0.2, burst=3) as (base, _app), aiohttp.ClientSession() as http:
        statuses = [(await call(http, "GET", f"{base}/campaigns", key))[0] for _ in range(3)]
        status, _body, response = await call(http, "GET", f"{base}/campaigns", key)
        assert statuses == [200, 200, 200] and status == 429
        assert int(response.headers["Retry-After"]) >= 1
        other = add_key(url, "calm", "read")  # buckets are per key
        assert (await call(http, "GET", f"{base}/campaigns", other))[0] == 200


async def test_contacts_batch_all_or_nothing_and_idempotent(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    cid = make_campaign(url, "debts", [], render=False)
    key = add_key(url, "crm", "write")
    good = [{"external_id": "A1", "name": "Ana", "phone": "611 10 00 00", "amount": "125.50"},
            {"id": "A2", "phones": ["+34 611 10 00 01", "912 345 678"], "fields": {"amount": 9}},
            {"external_id": 3, "phone": "+34611100002"}]  # fmt: skip
    bad = [good[0], {"name": "no id", "phone": "611100003"}, {"external_id": "B2", "phone": "12"},
           {"external_id": "A1", "phone": "611100004"}, {"external_id": "B4", "phone": "611100005", "x": [1]}, "row"]
    async with api_server(url) as (base, _app), aiohttp.ClientSession() as http:
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/contacts", key, json={"contacts": bad})
        assert status == 422, body
        found = {(e["row"], e["field"]) for e in body["errors"]}
        assert found == {(1, "external_id"), (2, "phone"), (3, "external_id"), (4, "x"), (5, "row"), (5, "external_id"),
                         (5, "phone")}, body["errors"]  # fmt: skip
        assert "repeats row 0" in next(e["error"] for e in body["errors"] if e["row"] == 3)
        assert contacts(url, cid) == []  # nothing written
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/contacts", key, json={"contacts": good})
        assert (status, body) == (200, {"campaign": "debts", "added": 3, "existing": []}), body
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/contacts", key,
                                     json={"contacts": good + [{"external_id": "A4", "phone": "611100009"}]})  # fmt: skip
        assert (status, body["added"], body["existing"]) == (200, 1, ["A1", "A2", "3"])
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/contacts", key,
                                     json={"contacts": [{}] * 10_001})  # fmt: skip
        assert status == 413
        status, body, _ = await call(http, "POST", f"{base}/campaigns/debts/contacts", key, data=b"{nope")
        assert status == 400 and "not JSON" in body["error"]
        status, body, _ = await call(http, "GET", f"{base}/campaigns/debts/contacts/A2", key)
        assert status == 200 and body["phones"] == ["+34611100001", "+34912345678"] and body["fields"] == {"amount": "9"}
        assert body["attempts"] == [] and any("campaign" in line or "due" in line for line in body["explain"]), body
        assert (await call(http, "GET", f"{base}/campaigns/debts/contacts/ZZ", key))[0] == 404
    stored = {c.external_id: c for c in contacts(url, cid)}
    assert sorted(stored) == ["3", "A1", "A2", "A4"] and stored["A1"].fields == {"amount": "125.50"}
    assert [(a.action, a.result, a.details.get("added")) for a in _audit(url)] == [
        ("contacts.add", "refused", None), ("contacts.add", "ok", 3), ("contacts.add", "ok", 1)]


def _ended_attempts(url: str, cid: int, n: int) -> list[str]:
    """n attempts ended a second apart (two at the same instant), a fact on the first."""
    engine = db.make_engine(url)
    t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    ids = []
    with db.session_factory(engine).begin() as s:
        contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).first()
        assert contact is not None
        for i in range(n):
            at = t0 + timedelta(seconds=min(i, n - 2))
            a = Attempt(id=f"00000000-0000-0000-0000-00000000000{i}", campaign_id=cid, contact_id=contact.id,
                        phone_id=contact.phones[0].id, number=contact.phones[0].number, state=AttemptState.ENDED,
                        created_at=at - timedelta(seconds=30), ended_at=at, recorded_at=at, outcome=Outcome.ANSWERED,
                        reason="done")  # fmt: skip
            s.add(a)
            ids.append(a.id)
        s.add(Attempt(id="00000000-0000-0000-0000-0000000000ff", campaign_id=cid, contact_id=contact.id,
                      phone_id=contact.phones[0].id, number="+34611100000", state=AttemptState.ORIGINATING,
                      created_at=t0))  # a live one: not a result yet  # fmt: skip
        s.add(IvrEvent(attempt_id=ids[0], seq=1, at=t0, kind="fact", name="promise_to_pay", value="2026-12-05"))
        s.add(IvrEvent(attempt_id=ids[0], seq=2, at=t0, kind="key", name="menu", value="1"))
    engine.dispose()
    return ids


async def test_results_follow_a_cursor(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    cid = make_campaign(url, "debts", ["+34611100000"], render=False)
    ids = _ended_attempts(url, cid, 5)
    key = add_key(url, "crm", "read")
    async with api_server(url) as (base, _app), aiohttp.ClientSession() as http:
        seen, cursor = [], None
        for _ in range(4):
            status, body, _ = await call(http, "GET", f"{base}/results", key,
                                         params={"limit": "2", **({"since": cursor} if cursor else {})})  # fmt: skip
            assert status == 200, body
            seen += body["results"]
            cursor = body["next_cursor"]
        assert [r["id"] for r in seen] == ids  # each once, in order, the live attempt not among them
        assert seen[0]["facts"] == [{"name": "promise_to_pay", "value": "2026-12-05", "at": seen[0]["facts"][0]["at"]}]
        assert seen[0]["external_id"] == "C0" and seen[0]["campaign"] == "debts" and seen[0]["outcome"] == "answered"
        assert (await call(http, "GET", f"{base}/results", key, params={"since": cursor}))[1]["results"] == []
        assert (await call(http, "GET", f"{base}/results", key, params={"since": "garbage!"}))[0] == 400
        assert (await call(http, "GET", f"{base}/results", key, params={"limit": "0"}))[0] == 400


async def test_a_result_recorded_late_still_comes_after_the_cursor_once_settled(tmp_path) -> None:
    """The cursor follows when endings were recorded: a host's journal replayed after an SQL outage
    records a call that ended before the cursor's last one, and the CRM still gets it; a result
    recorded under SETTLE_S ago is held back until no earlier-stamped ending can still commit."""
    url = new_database(str(tmp_path / "api.db"))
    cid = make_campaign(url, "debts", ["+34611100000"], render=False)
    ids = _ended_attempts(url, cid, 2)
    key = add_key(url, "crm", "read")
    engine = db.make_engine(url)

    def add(attempt_id: str, ended_at: datetime, recorded_at: datetime) -> None:
        with db.session_factory(engine).begin() as s:
            contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).one()
            s.add(Attempt(id=attempt_id, campaign_id=cid, contact_id=contact.id, phone_id=contact.phones[0].id,
                          number=contact.phones[0].number, state=AttemptState.ENDED, created_at=ended_at,
                          ended_at=ended_at, recorded_at=recorded_at, outcome=Outcome.OPTED_OUT, reason="x"))  # fmt: skip

    try:
        async with api_server(url) as (base, app), aiohttp.ClientSession() as http:
            body = (await call(http, "GET", f"{base}/results", key))[1]
            assert [r["id"] for r in body["results"]] == ids
            cursor = body["next_cursor"]
            t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # the first results ended (and were recorded) then
            add("replayed", t0 - timedelta(minutes=5), datetime.now(UTC) - timedelta(minutes=5))  # ended first, recorded last
            add("just-now", t0, datetime.now(UTC))  # still settling
            body = (await call(http, "GET", f"{base}/results", key, params={"since": cursor}))[1]
            assert [r["id"] for r in body["results"]] == ["replayed"]
            assert body["results"][0]["outcome"] == "opted_out"
            body = (await call(http, "GET", f"{base}/results", key, params={"since": body["next_cursor"]}))[1]
            assert body["results"] == []  # "just-now" comes once SETTLE_S have passed
            app[DEPS].clock = lambda: datetime.now(UTC) + timedelta(seconds=SETTLE_S + 1)
            later = (await call(http, "GET", f"{base}/results", key, params={"since": body["next_cursor"]}))[1]
            assert [r["id"] for r in later["results"]] == ["just-now"]
    finally:
        engine.dispose()


async def test_dnc_and_payments(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    cid = make_campaign(url, "debts", ["+34611100000", "+34611100001"], render=False)
    writer, admin = add_key(url, "crm", "write"), add_key(url, "boss", "admin")
    async with api_server(url) as (base, _app), aiohttp.ClientSession() as http:
        status, body, _ = await call(http, "POST", f"{base}/dnc/611100000", writer, params={"region": "ES"},
                                     json={"reason": "asked by phone"})  # fmt: skip
        assert status == 200 and body["number"] == "+34611100000" and body["added"] is True
        assert (await call(http, "POST", f"{base}/dnc/+34611100000", writer))[1]["added"] is False
        status, body, _ = await call(http, "GET", f"{base}/dnc/+34611100000", writer)
        assert body["listed"] is True and body["source"] == "api" and body["reason"] == "asked by phone"
        assert (await call(http, "GET", f"{base}/dnc/12", writer))[0] == 400
        assert (await call(http, "DELETE", f"{base}/dnc/+34611100000", writer))[0] == 403  # admin only
        assert (await call(http, "DELETE", f"{base}/dnc/+34611100000", admin))[0] == 200
        assert (await call(http, "GET", f"{base}/dnc/+34611100000", writer))[1]["listed"] is False
        status, body, _ = await call(http, "POST", f"{base}/payments", writer, json={"external_ids": ["C1", "NOPE"]})
        assert status == 422 and body["errors"] == [{"row": 1, "field": "external_id", "error": "no contact 'NOPE'"}]
        assert {c.disposition for c in contacts(url, cid)} == {Disposition.PENDING}
        status, body, _ = await call(http, "POST", f"{base}/payments", writer,
                                     json={"external_ids": ["C1"], "campaign": "debts"})  # fmt: skip
        assert (status, body["paid"]) == (200, 1)
    assert [c.disposition for c in contacts(url, cid)] == [Disposition.PENDING, Disposition.PAID]
    assert [(a.actor, a.action) for a in _audit(url)] == [
        ("key:crm", "dnc.add"), ("key:crm", "dnc.add"), ("key:boss", "dnc.remove"), ("key:crm", "payments.mark"),
        ("key:crm", "payments.mark")]  # fmt: skip


async def test_openapi_document_validates_and_matches_the_routes(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    async with api_server(url) as (base, app), aiohttp.ClientSession() as http:
        status, doc, _ = await call(http, "GET", f"{base}/openapi.json")  # public: no key
    assert status == 200
    validate(doc)
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(PREFIX) and not path.endswith("openapi.json") and route.method != "HEAD":
            path = path[len(PREFIX):].replace("{command:start|pause|resume|stop}", "{command}")
            for verb in ("start", "pause", "resume", "stop") if "{command}" in path else ("",):
                routes.add((path.replace("{command}", verb), route.method.lower()))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented


def _readme_script() -> str:
    """The sh blocks of the README's "HTTP API" section, in order, as one script."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## HTTP API\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))


async def test_the_readme_curl_examples_run(tmp_path) -> None:
    url = new_database(str(tmp_path / "api.db"))
    cid = make_campaign(url, "facturas-dic", [], render=False)
    async with api_server(url) as (base, _app):
        script = _readme_script().replace("http://127.0.0.1:8080/api/v1", base)
        env = {**os.environ, "DIALER_DB_URL": url, "CURSOR": "",
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip
        done = await asyncio.to_thread(subprocess.run, ["bash", "-e", "-c", script], env=env, capture_output=True,
                                       text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"state": "draft"' in done.stdout and '"added": 2' in done.stdout and '"paid": 1' in done.stdout, done.stdout
    assert sorted(c.external_id for c in contacts(url, cid)) == ["A1", "A2"]
