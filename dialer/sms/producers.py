"""Producers the SMS service runs every round (each one short transaction), queueing texts:

- notices (campaign [sms.notice]): `before_call_s` = a text that long before the contact's first
  call (the call waits for it: storage.claims leaves fresh contacts of such campaigns alone until
  their notice is queued), or `days_before_due` = a text that many days before the contact's
  `due_date` field. Either way it leaves when the contact's window is open (sms_store.opens_at).
- SMS-only campaigns ([sms] only = true): the due contacts, through the same schedule, windows,
  caps and DNC as a call, each get the text `[sms] text` (default "reminder") instead of a call;
  the campaign finishes when every contact is settled and no text waits to leave.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import exists, func, select, true
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import CampaignState, Disposition, SmsState
from dialer.sms.messages import MessageError
from dialer.sms.on_ending import text_number
from dialer.sms.outbox import queue_text
from dialer.storage.claims import due_contacts, pick_phone
from dialer.storage.models import Campaign, Contact, Dnc
from dialer.storage.sms_models import Sms, SmsOptOut
from dialer.storage.scheduling import Gate, hold_for, schedule_for
from dialer.storage.sms_store import Change, notice_settings, opens_at, sms_only, sms_settings
from scheduler.windows import ScheduleError

log = logging.getLogger(__name__)

BATCH = 200  # contacts looked at per campaign and round


def _active(s: Session) -> list[Campaign]:
    return [c for c in s.scalars(select(Campaign).where(Campaign.state == CampaignState.ACTIVE)) if sms_settings(c)]


def _queued(row: Sms | None) -> list[Change]:
    return [] if row is None else [Change(row.id, row.campaign_id, row.state.value, row.segments)]


def notices(sessions: sessionmaker[Session], now: datetime) -> list[Change]:
    changes: list[Change] = []
    with sessions.begin() as s:
        for campaign in _active(s):
            notice = notice_settings(campaign)
            if not notice:
                continue
            has_notice = exists().where(Sms.contact_id == Contact.id, Sms.kind == "notice")
            # before the first call: fresh contacts (never given a time; the index on next_attempt_at)
            fresh = true()
            if "before_call_s" in notice:
                fresh = (Contact.attempts == 0) & Contact.next_attempt_at.is_(None)
            found = s.scalars(select(Contact).where(Contact.campaign_id == campaign.id, ~has_notice, fresh,
                                                    Contact.disposition == Disposition.PENDING)
                              .order_by(Contact.id).limit(BATCH))  # fmt: skip
            for contact in found:
                changes += _notice(s, campaign, notice, contact, now)
    return changes


def _notice(s: Session, campaign: Campaign, notice: dict[str, object], contact: Contact, now: datetime) -> list[Change]:
    if not contact.phones:
        contact.next_attempt_at = contact.next_attempt_at or now  # the claim suppresses it
        return []
    number = text_number(contact, contact.phones[0].number)
    start = now
    if "days_before_due" in notice:
        due = (contact.fields or {}).get("due_date")
        try:
            day = datetime.combine(datetime.fromisoformat(str(due)[:10]).date(), time(), UTC)
        except ValueError:
            log.debug("campaign %s, contact %s: due_date %r is not a date: no notice", campaign.name,
                      contact.external_id, due)  # fmt: skip
            return []
        start = max(now, day - timedelta(days=float(str(notice["days_before_due"]))))
        if day + timedelta(days=1) <= now:
            return []  # due already: a notice before it is too late
    try:
        opens = opens_at(campaign, contact, number, start)
    except ScheduleError as exc:
        log.error("%s: no notice", exc)
        return []
    if opens is None:
        return []  # no window within the horizon: looked at again next round
    try:
        row = queue_text(s, campaign, contact, number, str(notice.get("template") or "notice"), kind="notice",
                         dedupe=f"notice:{contact.id}", not_before=opens)  # fmt: skip
    except MessageError as exc:
        log.error("campaign %s: notice not queued: %s", campaign.name, exc)
        if "before_call_s" in notice:
            contact.next_attempt_at = contact.next_attempt_at or now  # called without it
        return []
    if "before_call_s" in notice:  # the first call waits for the notice
        first = opens + timedelta(seconds=float(str(notice["before_call_s"])))
        contact.next_attempt_at = max(contact.next_attempt_at or first, first)
    return _queued(row)


def sms_campaigns(sessions: sessionmaker[Session], now: datetime) -> list[Change]:
    changes: list[Change] = []
    with sessions.begin() as s:
        for campaign in _active(s):
            if sms_only(campaign):
                changes += _texts(s, campaign, now)
    return changes


def _texts(s: Session, campaign: Campaign, now: datetime) -> list[Change]:
    try:
        schedule = schedule_for(campaign)
    except ScheduleError as exc:
        log.error("%s: no texts", exc)
        return []
    contacts = due_contacts(s, campaign.id, now, BATCH)
    numbers = [p.number for c in contacts for p in c.phones]
    blocked = set(s.scalars(select(Dnc.number).where(Dnc.number.in_(numbers)))) | set(
        s.scalars(select(SmsOptOut.number).where(SmsOptOut.number.in_(numbers))))  # fmt: skip
    gate = None if schedule is None else Gate(s, schedule, contacts, now, hold_for(campaign, schedule))
    template = str(sms_settings(campaign).get("text") or "reminder")
    changes: list[Change] = []
    for contact in contacts:
        phone = pick_phone(contact, blocked)
        if phone is None:
            contact.disposition = Disposition.SUPPRESSED
            continue
        if gate is not None and not gate.allows(contact, phone.number):
            continue
        try:
            row = queue_text(s, campaign, contact, text_number(contact, phone.number), template, kind="campaign",
                             dedupe=f"campaign:{contact.id}:{contact.attempts}")  # fmt: skip
        except MessageError as exc:
            log.error("campaign %s: contact %s gets no text: %s", campaign.name, contact.external_id, exc)
            contact.disposition = Disposition.EXHAUSTED
            continue
        contact.attempts += 1
        contact.disposition = Disposition.REACHED
        changes += _queued(row)
    if not contacts:
        _finish_if_settled(s, campaign, now)
    return changes


def _finish_if_settled(s: Session, campaign: Campaign, now: datetime) -> None:
    pending = s.scalar(select(func.count()).select_from(Contact).where(
        Contact.campaign_id == campaign.id, Contact.disposition == Disposition.PENDING))  # fmt: skip
    waiting = s.scalar(select(func.count()).select_from(Sms).where(
        Sms.campaign_id == campaign.id, Sms.state.in_((SmsState.QUEUED, SmsState.SENDING))))  # fmt: skip
    if not pending and not waiting:
        campaign.state, campaign.finished_at = CampaignState.FINISHED, now
        log.info("SMS campaign %s finished: every contact has its text", campaign.name)
