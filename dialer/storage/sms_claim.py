"""Claiming queued texts for one gateway: each campaign's texts go out only through the gateway its
`[sms] gateway` names ("default" when it names none). A sender claims its own campaigns' due texts
(a filter in the SELECT), checks each against DNC, opt-outs, paid contacts and its window, and takes
it by one guarded UPDATE (queued -> sending), so several senders and hosts never send it twice.

Texts of a campaign whose gateway no sender here knows stay queued, marked `no-gateway` (the report
and `dialer explain` say so): never sent through another gateway. A host that has that gateway
still claims them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import Disposition, SmsState
from dialer.storage.models import Campaign, Contact, Dnc
from dialer.storage.sms_models import Sms, SmsOptOut
from dialer.storage.sms_store import Change, Job, opens_at, sms_settings
from scheduler.windows import ScheduleError

log = logging.getLogger(__name__)

DEFAULT_GATEWAY = "default"
NO_GATEWAY = "no-gateway"  # error_code of a text waiting for a gateway no sender here has


def gateway_name(settings: Mapping[str, Any]) -> str:
    """The gateway a campaign's [sms] table picks: its `gateway`, in lower case, else "default"."""
    name = settings.get("gateway")
    return name.strip().lower() if isinstance(name, str) and name.strip() else DEFAULT_GATEWAY


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return Sms.state == SmsState.QUEUED, or_(Sms.not_before.is_(None), Sms.not_before <= now)


def route(s: Session, now: datetime, gateway: str, known: Collection[str]) -> tuple[list[int], list[Change]]:
    """The campaigns with due texts that `gateway` sends; the due texts of campaigns whose gateway is
    not in `known` are marked `no-gateway` (a Change each, the first time)."""
    ids = set(s.scalars(select(Sms.campaign_id).where(*_due(now)).distinct()))
    routes = {c.id: gateway_name(sms_settings(c)) for c in s.scalars(select(Campaign).where(Campaign.id.in_(ids)))}
    mine = [cid for cid in ids if routes.get(cid, gateway) == gateway]  # (a campaign gone: cancelled below)
    parked = {cid: name for cid, name in routes.items() if name not in known}
    if not parked:
        return mine, []
    waiting = s.execute(select(Sms.id, Sms.campaign_id, Sms.segments).where(
        *_due(now), Sms.campaign_id.in_(parked), or_(Sms.error_code.is_(None), Sms.error_code != NO_GATEWAY))).all()  # fmt: skip
    if waiting:
        s.execute(update(Sms).where(Sms.id.in_([w.id for w in waiting])).values(error_code=NO_GATEWAY)
                  .execution_options(synchronize_session=False))  # fmt: skip
        for cid in sorted({w.campaign_id for w in waiting}):
            log.warning("campaign %s picks SMS gateway %r, which is not configured here (known: %s): its texts wait",
                        cid, parked[cid], ", ".join(sorted(known)) or "none")  # fmt: skip
    return mine, [Change(w.id, w.campaign_id, SmsState.QUEUED.value, w.segments, NO_GATEWAY) for w in waiting]


def claim_texts(sessions: sessionmaker[Session], node: str, now: datetime, limit: int, gateway: str = DEFAULT_GATEWAY,
                known: Collection[str] = (DEFAULT_GATEWAY,)) -> tuple[list[Job], list[Change]]:  # fmt: skip
    """Due queued texts of `gateway`'s campaigns, each checked against DNC, opt-outs, paid contacts
    and its window, in one transaction; `known`: every gateway a sender of this daemon has."""
    with sessions.begin() as s:
        return claim(s, node, now, limit, gateway, known)


def claim(s: Session, node: str, now: datetime, limit: int, gateway: str,
          known: Collection[str]) -> tuple[list[Job], list[Change]]:  # fmt: skip
    campaign_ids, changes = route(s, now, gateway, known)
    jobs: list[Job] = []
    rows = list(s.scalars(select(Sms).where(*_due(now), Sms.campaign_id.in_(campaign_ids))
                          .order_by(Sms.not_before, Sms.id).limit(limit)))  # fmt: skip
    numbers = {r.number for r in rows}
    blocked = set(s.scalars(select(Dnc.number).where(Dnc.number.in_(numbers)))) | set(
        s.scalars(select(SmsOptOut.number).where(SmsOptOut.number.in_(numbers))))  # fmt: skip
    campaigns: dict[int, Campaign | None] = {}
    for row in rows:
        campaign = campaigns.setdefault(row.campaign_id, s.get(Campaign, row.campaign_id))
        contact = s.get(Contact, row.contact_id) if row.contact_id else None
        why = "dnc" if row.number in blocked else "paid" if contact and contact.disposition == Disposition.PAID else None
        if why is None and campaign is not None and campaign.state.value == "stopped":
            why = "campaign-stopped"
        if why or campaign is None:  # guarded: another host may have claimed it meanwhile (then it is sent)
            code = why or "no-campaign"
            if s.execute(update(Sms).where(Sms.id == row.id, Sms.state == SmsState.QUEUED)
                         .values(state=SmsState.CANCELLED, error_code=code, done_at=now)
                         .execution_options(synchronize_session=False)).rowcount:  # fmt: skip
                changes.append(Change(row.id, row.campaign_id, SmsState.CANCELLED.value, row.segments, code))
            continue
        try:
            opens = opens_at(campaign, contact, row.number, now)
        except ScheduleError as exc:
            log.error("sms %s not sent: %s", row.id, exc)
            row.not_before = now + timedelta(minutes=10)
            continue
        if opens is None or opens > now:
            row.not_before = opens or now + timedelta(days=1)
            continue
        won = s.execute(update(Sms).where(Sms.id == row.id, Sms.state == SmsState.QUEUED)
                        .values(state=SmsState.SENDING, node=node, tries=Sms.tries + 1)
                        .execution_options(synchronize_session=False)).rowcount  # fmt: skip
        if won:
            if row.error_code == NO_GATEWAY:  # it waited for this gateway
                row.error_code = None
            jobs.append(Job(row.id, row.campaign_id, row.number, row.text, row.encoding, sms_settings(campaign)))
    return jobs, changes
