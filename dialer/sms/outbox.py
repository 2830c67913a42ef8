"""Queueing a text for a contact: the campaign's template rendered with the contact's values,
counted (encoding, parts, cost) and written as a `queued` row of the sms table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from dialer.domain import SmsState
from dialer.sms.messages import Messages
from dialer.sms.text import split
from dialer.storage.models import Campaign, Contact
from dialer.storage.sms_models import Sms
from dialer.storage.sms_store import SmsStore, sms_settings


def messages_for(campaign: Campaign) -> Messages:
    settings = campaign.settings
    currency = (settings.get("sms") or {}).get("currency") or settings.get("currency")
    return Messages(campaign.language, sms_settings(campaign), str(settings.get("company") or ""), currency)


def queue_text(s: Session, campaign: Campaign, contact: Contact, number: str, template: str, *, kind: str,
               dedupe: str | None = None, extra: Mapping[str, Any] | None = None, attempt_id: str | None = None,
               not_before: datetime | None = None) -> Sms | None:  # fmt: skip
    """Queue template `template` for the contact; None when `dedupe` says it is already queued.
    Raises MessageError when the template or a value cannot make a text."""
    book = messages_for(campaign)
    values = book.values({"name": contact.name, "external_id": contact.external_id, "contact_id": contact.id,
                          "campaign": campaign.name, "fields": contact.fields}, extra)  # fmt: skip
    text = book.render(template, values)
    parts = split(text)
    rate = sms_settings(campaign).get("cost_per_segment")
    row = Sms(campaign_id=campaign.id, contact_id=contact.id, attempt_id=attempt_id, number=number, kind=kind,
              dedupe=dedupe, template=template, text=text, encoding=parts.encoding, segments=parts.segments,
              cost=None if rate is None else round(float(rate) * parts.segments, 6), state=SmsState.QUEUED,
              not_before=not_before, created_at=datetime.now(UTC))  # fmt: skip
    return row if SmsStore.add(s, row) else None


def sms_parts(campaign: Campaign) -> list[str]:
    """One line per SMS template of the campaign: its encoding and parts with sample values, and
    the cost of one text when the campaign prices a part."""
    book = messages_for(campaign)
    rate = sms_settings(campaign).get("cost_per_segment")
    lines = []
    for key in sorted(book.texts):
        try:
            found = book.sample(key)
        except Exception as exc:  # noqa: BLE001 - a template that cannot render is shown, not fatal
            lines.append(f"sms template {key}: {exc}")
            continue
        cost = f", {float(rate) * found.segments:g} {book.currency} a text" if rate is not None else ""
        lines.append(f"sms template {key}: {found.encoding}, {found.segments} part(s){cost}")
    return lines
