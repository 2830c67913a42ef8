"""A campaign's SMS in the report: texts per state, parts, replies, opt-outs and cost (SQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.domain import SmsState
from dialer.storage.models import Campaign, Contact
from dialer.storage.sms_claim import DEFAULT_GATEWAY, NO_GATEWAY, gateway_name
from dialer.storage.sms_models import Sms, SmsReply


def sms_summary(session: Session, campaign_id: int) -> dict[str, Any] | None:
    """None when the campaign has no SMS; else queued/sent/delivered/failed/expired/cancelled
    texts, `sent` counting every text the gateway took (delivered ones too), parts, replies,
    opt-outs and the cost of the texts sent; `gateway`: the one the campaign picks, and
    `waiting_for_gateway`: queued texts no running sender has that gateway for (dialer.storage.sms_claim)."""
    by_state = dict(session.execute(select(Sms.state, func.count()).where(Sms.campaign_id == campaign_id)
                                    .group_by(Sms.state)).all())  # fmt: skip
    replies, opt_outs = session.execute(
        select(func.count(), func.count().filter(SmsReply.opt_out.is_(True))).where(SmsReply.campaign_id == campaign_id)
    ).one()  # fmt: skip
    if not by_state and not replies:
        return None
    gone = [SmsState.SENT, SmsState.DELIVERED, SmsState.FAILED, SmsState.EXPIRED]
    parts, cost = session.execute(
        select(func.coalesce(func.sum(Sms.segments), 0), func.sum(Sms.cost))
        .where(Sms.campaign_id == campaign_id, Sms.sent_at.is_not(None), Sms.state.in_(gone))
    ).one()  # fmt: skip
    count = {s.value: int(by_state.get(s, 0)) for s in SmsState}
    sent = session.scalar(select(func.count()).where(Sms.campaign_id == campaign_id, Sms.sent_at.is_not(None))) or 0
    waiting = session.scalar(select(func.count()).where(Sms.campaign_id == campaign_id, Sms.state == SmsState.QUEUED,
                                                        Sms.error_code == NO_GATEWAY)) or 0  # fmt: skip
    campaign = session.get(Campaign, campaign_id)
    return {"texts": sum(count.values()), "queued": count["queued"] + count["sending"], "sent": sent,
            "delivered": count["delivered"], "failed": count["failed"], "expired": count["expired"],
            "cancelled": count["cancelled"], "parts_sent": int(parts or 0), "replies": int(replies),
            "opt_outs": int(opt_outs), "cost": None if cost is None else round(float(cost), 4),
            "gateway": gateway_name((campaign.settings.get("sms") or {}) if campaign else {}),
            "waiting_for_gateway": int(waiting)}  # fmt: skip


def waiting_texts(session: Session, contact: Contact) -> list[str]:
    """`dialer explain`: the contact's texts waiting for a gateway no running sender has."""
    waiting = session.scalar(select(func.count()).where(Sms.contact_id == contact.id, Sms.state == SmsState.QUEUED,
                                                        Sms.error_code == NO_GATEWAY)) or 0  # fmt: skip
    if not waiting:
        return []
    name = gateway_name(contact.campaign.settings.get("sms") or {})
    var = "DIALER_SMS_GATEWAY" if name == DEFAULT_GATEWAY else f"DIALER_SMS_GATEWAY_{name.upper()}"
    return [f"SMS: {waiting} text(s) waiting: the campaign picks gateway {name!r}, which no running dialer has "
            f"(set {var} where the daemon runs)"]
