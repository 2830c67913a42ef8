"""/api/v1 contacts: a batch of up to 10,000 JSON objects into a campaign with the checks of the
CSV import (dialer.campaigns.row_checks, and across rows and against the campaign as
contacts_import does), and one contact with its attempts and the `explain` text.

A batch is all-or-nothing: one bad row and nothing is written; the 422 answer lists every error
by row index (0-based) and field. Idempotent by external_id: a row whose external_id is already
in the campaign is reported in `existing` and skipped, not an error, so a CRM may resend a batch.
An object's keys are read like a CSV header (external_id or id, name, timezone, phone, debt_id,
any other key a field such as amount); `phones` may be a list and `fields` an object.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaigns import states
from dialer.campaigns.contact_writer import ContactWriter
from dialer.campaigns.across_rows import AcrossRows
from dialer.campaigns.contacts_import import column_target, spoken_fields
from dialer.campaigns.csv_files import CsvFileError, Rejection
from dialer.campaigns.row_checks import Checked, RowSpec, check_row
from dialer.campaigns.states import CampaignError
from dialer.reports.explain import NotFound, explain_contact, find_contacts
from dialer.storage.models import Attempt, Contact
from dialer.web.api_common import ApiProblem, answer, api_errors, json_body, read, write
from dialer.web.auth import needs
from dialer.web.context import DEPS

log = logging.getLogger(__name__)

MAX_BATCH = 10_000
SCALARS = (str, int, float)


def _cells(index: int, item: Any, problems: list[Rejection]) -> list[tuple[str, str, str]]:
    """(column, target, text) of one JSON object, its keys read like a CSV header."""
    if not isinstance(item, dict):
        problems.append(Rejection(index, "row", "expected a JSON object"))
        return []
    cells: list[tuple[str, str, str]] = []
    for key, value in item.items():
        if value is None:
            continue
        if key == "phones" and isinstance(value, list):
            cells += [(f"phones[{i}]", "phone", str(v)) for i, v in enumerate(value) if isinstance(v, SCALARS)]
        elif key == "fields" and isinstance(value, dict):
            for name, v in value.items():
                target = column_target(str(name), {}, Path("api"))
                cells.append((f"fields.{name}", target if target.startswith("fields.") else f"fields.{name}", str(v)))
        elif isinstance(value, SCALARS) and not isinstance(value, bool):
            cells.append((key, column_target(key, {}, Path("api")), str(value)))
        else:
            problems.append(Rejection(index, key, f"expected a string or a number, got {type(value).__name__}"))
    return cells


def _checked(items: list[Any], spoken: frozenset[str], lang: str, region: str) -> list[Checked]:
    out = []
    for index, item in enumerate(items):
        problems: list[Rejection] = []
        cells = _cells(index, item, problems)
        spec = RowSpec(tuple(c[0] for c in cells), tuple(c[1] for c in cells), spoken, lang, region)
        row = check_row(spec, index, [c[2] for c in cells])
        out.append(row._replace(problems=problems + row.problems) if problems else row)
    return out


def add_batch(s: Session, name: str, items: list[Any]) -> dict[str, Any]:
    try:
        campaign = states.find(s, name)
        spoken = frozenset(spoken_fields(campaign, Path(f"campaign {name}")))
    except CampaignError as exc:
        raise ApiProblem(404, str(exc)) from None
    except CsvFileError as exc:
        raise ApiProblem(409, str(exc)) from None
    checked = _checked(items, spoken, campaign.language, campaign.default_region)
    across = AcrossRows(s, campaign)
    existing = across.existing(checked)
    errors: list[dict[str, Any]] = []
    already = [row.external_id for row in checked if not row.problems and row.external_id in existing]
    fresh = [row for row in checked if row.problems or row.external_id not in existing]
    accepted = across.check(fresh, existing=set())
    errors += [{"row": p.line, "field": p.field, "error": p.reason.replace(" line ", " row ")}
               for row in fresh for p in row.problems]  # fmt: skip
    if errors:
        raise ApiProblem(422, f"{len({e['row'] for e in errors})} of {len(items)} rows have errors: nothing written",
                         errors)  # fmt: skip
    ContactWriter(s, campaign.id).write(accepted)
    return {"campaign": name, "added": len(accepted), "existing": already}


@needs("api:write")
@api_errors
async def post_contacts(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = await json_body(request)
    items = body.get("contacts") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ApiProblem(400, 'expected {"contacts": [...]} or a JSON list of contacts')
    if len(items) > MAX_BATCH:
        raise ApiProblem(413, f"{len(items)} contacts: a batch holds at most {MAX_BATCH}")
    done = await write(request, "contacts.add", f"campaign:{name}", lambda s: add_batch(s, name, items),
                       details=lambda d: {"added": d["added"], "existing": len(d["existing"])})  # fmt: skip
    return answer(done)


def contact_view(s: Session, contact: Contact, now: Any) -> dict[str, Any]:
    attempts = s.scalars(select(Attempt).where(Attempt.contact_id == contact.id).order_by(Attempt.created_at))
    return {
        "campaign": contact.campaign.name, "external_id": contact.external_id, "name": contact.name,
        "disposition": contact.disposition.value, "phones": [p.number for p in contact.phones],
        "fields": contact.fields, "next_attempt_at": contact.next_attempt_at,
        "attempts": [attempt_view(a) for a in attempts], "explain": explain_contact(s, contact, now),
    }  # fmt: skip


def attempt_view(a: Attempt) -> dict[str, Any]:
    return {"id": a.id, "number": a.number, "state": a.state.value, "created_at": a.created_at, "ended_at": a.ended_at,
            "dial_result": a.dial_result.value if a.dial_result else None,
            "outcome": a.outcome.value if a.outcome else None, "reason": a.reason, "step_reached": a.step_reached,
            "details": a.details}  # fmt: skip


@needs("api:read")
async def get_contact(request: web.Request) -> web.StreamResponse:
    name, ext = request.match_info["name"], request.match_info["external_id"]
    now = request.app[DEPS].clock()

    def look(s: Session) -> dict[str, Any]:
        try:
            (contact,) = find_contacts(s, ext, name)[:1]
        except NotFound as exc:
            raise ApiProblem(404, str(exc)) from None
        return contact_view(s, contact, now)

    return answer(await read(request, look))


def setup(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/campaigns/{{name}}/contacts", post_contacts)
    app.router.add_get(f"{prefix}/campaigns/{{name}}/contacts/{{external_id}}", get_contact)
