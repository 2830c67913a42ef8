"""The SMS table's SQL, one short transaction per method: messages queued (claimed for sending by
dialer.storage.sms_claim, per gateway, with the window helpers here), their results,
delivery reports matched and rolled up over parts, replies matched to a number's last message.

A message is claimed by one guarded UPDATE (state queued -> sending), so several dialer hosts
never send it twice. States only move forward: a late "accepted" report never undoes
"delivered" (Kannel may report 1 before 8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dialer.domain import SmsState
from dialer.storage.models import Campaign, Contact, Dnc, Phone
from dialer.storage.sms_models import Sms, SmsOptOut, SmsPart, SmsReply
from dialer.storage.webhook_store import enqueue
from scheduler.policy import parse_schedule
from scheduler.windows import CallingWindows, ScheduleError
from scheduler.zones import contact_zones, region_zones

log = logging.getLogger(__name__)

FINAL = {SmsState.DELIVERED, SmsState.FAILED, SmsState.EXPIRED, SmsState.CANCELLED}
ORDER = {SmsState.QUEUED: 0, SmsState.SENDING: 1, SmsState.SENT: 2, SmsState.DELIVERED: 3, SmsState.FAILED: 3,
         SmsState.EXPIRED: 3, SmsState.CANCELLED: 3}  # fmt: skip
DEFAULT_RETRY = {"max_tries": 3, "delay_s": 300, "failed_receipts": True}


class UnknownMessage(LookupError):
    pass


@dataclass(frozen=True)
class Job:
    """One message claimed for sending."""

    sms_id: int
    campaign_id: int
    number: str
    text: str
    encoding: str
    settings: Mapping[str, Any]  # the campaign's [sms] table


@dataclass(frozen=True)
class Change:
    """What happened to a message (for live events)."""

    sms_id: int
    campaign_id: int
    state: str
    segments: int
    error: str | None = None
    tries: int = 0


def sms_settings(campaign: Campaign) -> dict[str, Any]:
    return dict(campaign.settings.get("sms") or {})


def sms_only(campaign: Campaign) -> bool:
    """An SMS-only campaign ([sms] only = true): its contacts get texts, never calls."""
    return bool(sms_settings(campaign).get("only", False))


def notice_settings(campaign: Campaign) -> dict[str, Any]:
    """[sms.notice]: a text `before_call_s` before the first call or `days_before_due` its due date."""
    return dict(sms_settings(campaign).get("notice") or {})


def retry_rules(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULT_RETRY, **(settings.get("retries") or {})}


def sms_windows(campaign: Campaign) -> tuple[CallingWindows, tuple[Any, ...]] | None:
    """The hours texts may go out: [sms] windows, else the campaign's calling windows; None: any time."""
    own = sms_settings(campaign).get("windows")
    try:
        schedule = parse_schedule(campaign.settings, campaign.default_region)
    except ScheduleError as exc:
        raise ScheduleError(f"campaign {campaign.name}: settings.{exc}") from None
    zones = schedule.default_zones if schedule else region_zones(campaign.default_region)
    if own is not None:
        holidays = (campaign.settings.get("schedule") or {}).get("holidays", [])
        return CallingWindows.parse(own, holidays, "sms.windows"), zones
    if schedule is None or schedule.windows.always:
        return None
    return schedule.windows, zones


def opens_at(campaign: Campaign, contact: Contact | None, number: str, now: datetime) -> datetime | None:
    """`now` when the contact's window is open, else when it next opens (None: not within 14 days)."""
    found = sms_windows(campaign)
    if found is None:
        return now
    windows, default = found
    zones = contact_zones(contact.timezone if contact else None, number, default)
    return windows.next_open(now, zones.zones)


class SmsStore:
    def __init__(self, sessions: sessionmaker[Session], node: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.sessions = sessions
        self.node = node
        self.clock = clock

    # -- queueing --------------------------------------------------------------------------
    @staticmethod
    def add(s: Session, row: Sms) -> bool:
        """Queue one message in the caller's transaction; False if its dedupe key is already there."""
        if row.dedupe and s.scalar(select(Sms.id).where(Sms.dedupe == row.dedupe)) is not None:
            return False
        try:
            with s.begin_nested():
                s.add(row)
        except IntegrityError:  # another host queued the same one first
            return False
        return True

    # -- sending ---------------------------------------------------------------------------
    def sent(self, sms_id: int, gateway: str, smsc_ids: tuple[str, ...], encoding: str, segments: int,
             cost: float | None, now: datetime) -> Change:  # fmt: skip
        with self.sessions.begin() as s:
            row = s.get(Sms, sms_id)
            assert row is not None
            if row.state == SmsState.SENDING:  # a receipt may have come first
                row.state = SmsState.SENT
            row.gateway, row.sent_at, row.encoding, row.segments, row.cost = gateway, now, encoding, segments, cost
            row.smsc_id = smsc_ids[0] if smsc_ids else None
            for smsc_id in smsc_ids:
                if s.get(SmsPart, smsc_id) is None:
                    s.add(SmsPart(smsc_id=smsc_id, sms_id=sms_id, state=SmsState.SENT))
            return Change(row.id, row.campaign_id, row.state.value, row.segments, tries=row.tries)

    def not_sent(self, sms_id: int, code: str, temporary: bool, now: datetime) -> Change:
        """A refused send: queued again after the retry delay (doubling) while tries are left."""
        with self.sessions.begin() as s:
            row = s.get(Sms, sms_id)
            assert row is not None
            campaign = s.get(Campaign, row.campaign_id)
            self._retry_or_fail(row, retry_rules(sms_settings(campaign) if campaign else {}), code, temporary, now)
            return Change(row.id, row.campaign_id, row.state.value, row.segments, code, row.tries)

    @staticmethod
    def _retry_or_fail(row: Sms, rules: Mapping[str, Any], code: str | None, retry: bool, now: datetime) -> None:
        row.error_code = code
        if retry and row.tries < int(rules["max_tries"]):
            row.state, row.node = SmsState.QUEUED, None
            row.not_before = now + timedelta(seconds=float(rules["delay_s"]) * 2 ** max(row.tries - 1, 0))
        else:
            row.state, row.done_at = SmsState.FAILED, now

    def lost(self, now: datetime) -> int:
        """Messages this node was sending when it stopped: failed as `lost` (never sent twice);
        a late delivery report still marks them delivered."""
        with self.sessions.begin() as s:
            return s.execute(update(Sms).where(Sms.state == SmsState.SENDING, Sms.node == self.node)
                             .values(state=SmsState.FAILED, error_code="lost", done_at=now)).rowcount  # fmt: skip

    # -- delivery reports ------------------------------------------------------------------
    def receipt(self, state: str, sms_id: int | None, smsc_id: str | None, error: str | None, now: datetime,
                per_part: bool = False) -> Change | None:  # fmt: skip
        """Apply one delivery report; None when it changes nothing. UnknownMessage when it matches no
        message (yet: a receipt may overtake the recording of the SMSC's answer). With `per_part`
        (SMPP) a text is delivered once every part is."""
        new = SmsState(state)
        with self.sessions.begin() as s:
            part = s.get(SmsPart, smsc_id) if smsc_id and per_part else None
            row = s.get(Sms, sms_id) if sms_id is not None else s.get(Sms, part.sms_id) if part else None
            if row is None and smsc_id:
                row = s.scalars(select(Sms).where(Sms.smsc_id == smsc_id)).first()
            if row is None:
                raise UnknownMessage(f"delivery report for unknown message (sms {sms_id}, smsc id {smsc_id})")
            if smsc_id and not row.smsc_id:
                row.smsc_id = smsc_id[:64]  # Kannel tells it in its reports only
            if per_part and smsc_id:
                if part is None:
                    part = SmsPart(smsc_id=smsc_id, sms_id=row.id)
                    s.add(part)
                part.state = new
                s.flush()
                delivered = s.scalars(select(SmsPart.smsc_id).where(SmsPart.sms_id == row.id,
                                                                    SmsPart.state == SmsState.DELIVERED)).all()  # fmt: skip
                if new == SmsState.DELIVERED and len(delivered) < row.segments:
                    return None  # the text is delivered when every part is
            lost = row.state == SmsState.FAILED and row.error_code == "lost"
            if not lost and (row.state in FINAL or ORDER[new] < ORDER[row.state]):
                return None
            if new == SmsState.SENT:
                row.state = SmsState.SENT
            elif new == SmsState.FAILED:
                campaign = s.get(Campaign, row.campaign_id)
                rules = retry_rules(sms_settings(campaign) if campaign else {})
                self._retry_or_fail(row, rules, error or "undelivered", bool(rules["failed_receipts"]), now)
            else:
                row.state, row.done_at, row.error_code = new, now, error if new == SmsState.EXPIRED else None
            if row.state in (SmsState.DELIVERED, SmsState.FAILED, SmsState.EXPIRED):  # webhooks: in this transaction
                enqueue(s, row.campaign_id, f"sms.{row.state.value}", lambda: {"sms": _sms_body(s, row)}, now)
            return Change(row.id, row.campaign_id, row.state.value, row.segments, row.error_code, row.tries)

    # -- replies ---------------------------------------------------------------------------
    def reply(self, number: str, to: str, text: str, gateway: str, now: datetime,
              opts_out: Callable[[Mapping[str, Any], str], bool]) -> tuple[SmsReply, bool]:  # fmt: skip
        """Store a reply, matched to the number's last message (else its newest contact). A stop
        word (opts_out(campaign's [sms], text)) adds the number to the SMS opt-outs, and to the
        DNC list too when the campaign says `opt_out_voice`; its queued messages are cancelled.
        Returns the row and whether the voice DNC list was touched."""
        with self.sessions.begin() as s:
            last = s.scalars(select(Sms).where(Sms.number == number).order_by(Sms.id.desc()).limit(1)).first()
            campaign_id, contact_id = (last.campaign_id, last.contact_id) if last else (None, None)
            if last is None:
                found = s.execute(select(Contact.campaign_id, Contact.id).join(Phone, Phone.contact_id == Contact.id)
                                  .where(Phone.number == number).order_by(Contact.id.desc()).limit(1)).first()  # fmt: skip
                campaign_id, contact_id = found if found else (None, None)
            campaign = s.get(Campaign, campaign_id) if campaign_id else None
            settings = sms_settings(campaign) if campaign else {}
            stop = opts_out(settings, text)
            row = SmsReply(number=number, to=to or None, text=text, campaign_id=campaign_id, contact_id=contact_id,
                           sms_id=last.id if last else None, opt_out=stop, gateway=gateway, received_at=now)  # fmt: skip
            s.add(row)
            voice = False
            if stop:
                reason = f"SMS reply {text.strip()[:40]!r}"
                if s.get(SmsOptOut, number) is None:
                    s.add(SmsOptOut(number=number, source="sms-reply", reason=reason, added_at=now))
                if settings.get("opt_out_voice", True) and s.get(Dnc, number) is None:
                    s.add(Dnc(number=number, source="sms-reply", reason=reason, added_at=now))
                    voice = True
                s.execute(update(Sms).where(Sms.number == number, Sms.state == SmsState.QUEUED)
                          .values(state=SmsState.CANCELLED, error_code="opted-out", done_at=now))  # fmt: skip
            s.flush()
            if campaign_id is not None:  # webhooks: in this transaction
                enqueue(s, campaign_id, "sms.replied", {"reply": {
                    "id": row.id, "number": number, "text": text, "opt_out": stop, "voice_dnc": voice,
                    "sms_id": row.sms_id, "contact_id": contact_id}}, now)  # fmt: skip
            return row, voice

    def replies(self, campaign_id: int) -> list[SmsReply]:
        with self.sessions() as s:
            return list(s.scalars(select(SmsReply).where(SmsReply.campaign_id == campaign_id).order_by(SmsReply.id)))


def _sms_body(s: Session, row: Sms) -> dict[str, Any]:
    """A text as its webhook events show it."""
    contact = s.get(Contact, row.contact_id) if row.contact_id else None
    return {"id": row.id, "number": row.number, "kind": row.kind, "template": row.template, "state": row.state.value,
            "segments": row.segments, "error_code": row.error_code, "tries": row.tries,
            "contact": {"id": contact.id, "external_id": contact.external_id} if contact else None}  # fmt: skip
