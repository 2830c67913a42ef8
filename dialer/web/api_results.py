"""/api/v1 results (attempts ended, with their IVR facts, after a cursor), the DNC list (add,
remove, check one number) and payments (contacts marked paid, as dialer.campaigns.payments_import).

The results cursor is opaque to clients: base64url of "<recorded_at ISO>|<attempt id>"; rows come in
(recorded_at, id) order, strictly after the cursor, so a CRM follows by passing back `next_cursor`.
It follows when each ending was recorded, not when its call ended: an ending recorded late (a host's
journal replayed after an SQL outage) comes after the cursor all the same. A result is given only once
SETTLE_S have passed since it was recorded (stamped at the end of its transaction), so an ending whose
transaction commits after a later-stamped one (another host, a slow commit) is not left behind the
cursor, unless its commit takes longer than SETTLE_S.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from dialer.campaigns.numbers import normalise
from dialer.campaigns.payments_import import PaymentsReport, mark_paid
from dialer.storage.models import Attempt, Campaign, Contact, Dnc, IvrEvent
from dialer.web.api_common import ApiProblem, answer, api_errors, json_body, read, write
from dialer.web.api_contacts import attempt_view
from dialer.web.auth import needs
from dialer.web.context import DEPS

log = logging.getLogger(__name__)

MAX_LIMIT, DEFAULT_LIMIT, MAX_PAYMENTS = 1000, 100, 10_000
SETTLE_S = 30.0  # longer than an ending's transaction (8 s statement timeout) plus the hosts' clock skew


def encode_cursor(ended_at: datetime, attempt_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ended_at.isoformat()}|{attempt_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, attempt_id = text.split("|", 1)
        return datetime.fromisoformat(at), attempt_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiProblem(400, f"since: {cursor[:80]!r} is not a cursor this API gave") from None


def results_page(s: Session, since: str | None, limit: int, now: datetime) -> dict[str, Any]:
    settled = now - timedelta(seconds=SETTLE_S)
    query = (select(Attempt, Contact.external_id, Campaign.name)
             .join(Contact, Contact.id == Attempt.contact_id).join(Campaign, Campaign.id == Attempt.campaign_id)
             .where(Attempt.recorded_at.is_not(None), Attempt.recorded_at <= settled)
             .order_by(Attempt.recorded_at, Attempt.id).limit(limit))  # fmt: skip
    if since:
        at, attempt_id = decode_cursor(since)
        query = query.where(Attempt.recorded_at >= at,  # a bound PostgreSQL's index scan starts from
                            or_(Attempt.recorded_at > at, and_(Attempt.recorded_at == at, Attempt.id > attempt_id)))
    rows = list(s.execute(query))
    facts: dict[str, list[dict[str, Any]]] = {}
    ids = [a.id for a, _e, _c in rows]
    if ids:
        for e in s.scalars(select(IvrEvent).where(IvrEvent.attempt_id.in_(ids), IvrEvent.kind == "fact")
                           .order_by(IvrEvent.attempt_id, IvrEvent.seq)):  # fmt: skip
            facts.setdefault(e.attempt_id, []).append({"name": e.name, "value": e.value, "at": e.at})
    results = [{**attempt_view(a), "campaign": campaign, "external_id": ext, "facts": facts.get(a.id, [])}
               for a, ext, campaign in rows]  # fmt: skip
    last = rows[-1][0] if rows else None
    return {"results": results, "next_cursor": encode_cursor(last.recorded_at, last.id) if last and last.recorded_at
            else since}  # fmt: skip


@needs("api:read")
@api_errors
async def get_results(request: web.Request) -> web.StreamResponse:
    try:
        limit = int(request.query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise ApiProblem(400, f"limit: {request.query['limit']!r} is not a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiProblem(400, f"limit: {limit} is not between 1 and {MAX_LIMIT}")
    since = request.query.get("since") or None
    now = request.app[DEPS].clock()
    return answer(await read(request, lambda s: results_page(s, since, limit, now)))


def _number(request: web.Request) -> str:
    raw = request.match_info["number"]
    e164, _type, problem = normalise(raw, request.query.get("region", "ZZ"))
    if problem:
        raise ApiProblem(400, f"number: {problem}" + ("" if raw.startswith("+") else " (give +E.164 or ?region=XX)"))
    return e164


def _dnc_view(row: Dnc | None, number: str) -> dict[str, Any]:
    if row is None:
        return {"number": number, "listed": False}
    return {"number": number, "listed": True, "source": row.source, "reason": row.reason, "added_at": row.added_at}


@needs("api:read")
@api_errors
async def get_dnc(request: web.Request) -> web.StreamResponse:
    number = _number(request)
    return answer(await read(request, lambda s: _dnc_view(s.get(Dnc, number), number)))


@needs("api:write")
@api_errors
async def add_dnc(request: web.Request) -> web.StreamResponse:
    number = _number(request)
    body = await json_body(request) if request.can_read_body else {}
    body = body if isinstance(body, dict) else {}
    source, reason = str(body.get("source") or "api")[:64], body.get("reason")
    now = request.app[DEPS].clock()

    def add(s: Session) -> dict[str, Any]:
        row = s.get(Dnc, number)
        created = row is None
        if row is None:
            row = Dnc(number=number, source=source, reason=str(reason) if reason else None, added_at=now)
            s.add(row)
            s.flush()
        return {**_dnc_view(row, number), "added": created}

    return answer(await write(request, "dnc.add", f"dnc:{number}", add, details=lambda d: {"added": d["added"]}))


@needs("api:admin")
@api_errors
async def remove_dnc(request: web.Request) -> web.StreamResponse:
    number = _number(request)

    def remove(s: Session) -> dict[str, Any]:
        row = s.get(Dnc, number)
        if row is None:
            raise ApiProblem(404, f"{number} is not on the DNC list")
        s.delete(row)
        return {"number": number, "listed": False, "removed_source": row.source}

    return answer(await write(request, "dnc.remove", f"dnc:{number}", remove, details=lambda d: d))


def pay_by_ids(s: Session, ids: list[Any], campaign: str | None, now: datetime) -> dict[str, Any]:
    where = []
    if campaign is not None:
        found = s.scalar(select(Campaign.id).where(Campaign.name == campaign))
        if found is None:
            raise ApiProblem(404, f"unknown campaign {campaign!r}")
        where.append(Contact.campaign_id == found)
    errors, contacts = [], {}
    for index, ext in enumerate(ids):
        if not isinstance(ext, str | int) or isinstance(ext, bool) or not str(ext).strip():
            errors.append({"row": index, "field": "external_id", "error": "expected a non-empty string"})
            continue
        matches = list(s.scalars(select(Contact).where(Contact.external_id == str(ext).strip(), *where)))
        if not matches:
            errors.append({"row": index, "field": "external_id", "error": f"no contact {str(ext)!r}"
                           + (f" in campaign {campaign!r}" if campaign else "")})  # fmt: skip
        contacts.update({c.id: c for c in matches})
    if errors:
        raise ApiProblem(422, f"{len(errors)} of {len(ids)} external ids refused: nothing marked paid", errors)
    report = PaymentsReport(Path("api"), rows_read=len(ids))
    for contact in contacts.values():
        mark_paid(s, contact, now, report)
    return {"paid": report.paid, "promises_kept": report.promises_kept, "texts_cancelled": report.texts_cancelled}


@needs("api:write")
@api_errors
async def post_payments(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    ids = body.get("external_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or len(ids) > MAX_PAYMENTS:
        raise ApiProblem(400, f'expected {{"external_ids": [...]}} with 1 to {MAX_PAYMENTS} ids')
    campaign, now = body.get("campaign"), request.app[DEPS].clock()
    done = await write(request, "payments.mark", f"campaign:{campaign}" if campaign else "payments",
                       lambda s: pay_by_ids(s, ids, str(campaign) if campaign else None, now), details=lambda d: d)  # fmt: skip
    return answer(done)


def setup(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/results", get_results)
    app.router.add_get(f"{prefix}/dnc/{{number}}", get_dnc)
    app.router.add_post(f"{prefix}/dnc/{{number}}", add_dnc)
    app.router.add_delete(f"{prefix}/dnc/{{number}}", remove_dnc)
    app.router.add_post(f"{prefix}/payments", post_payments)
