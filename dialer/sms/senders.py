"""The daemon's SMS senders: one SmsService per configured gateway (dialer.sms.settings), each with
its own window and throttle and claiming only the texts of the campaigns that pick it. One HTTP
listener serves every Kannel gateway's delivery reports and replies (on the first Kannel sender);
the producers that queue texts, and the recovery of texts lost in a stop, run once (on the first).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from dialer.events.sink import EventSink
from dialer.sms import make_gateway
from dialer.sms.service import Producer, SmsService
from dialer.sms.settings import GatewaySettings, ListenSettings


def senders(sessions: sessionmaker[Session], gateways: Mapping[str, GatewaySettings], listen: ListenSettings, *,
            node: str, events: EventSink | None, producers: list[Producer],
            poll_s: float = 1.0) -> list[SmsService]:  # fmt: skip
    """One service per gateway ("default" first); none when no gateway is configured."""
    found: list[SmsService] = []
    listening = False
    for settings in gateways.values():
        own_listener = settings.kind == "kannel" and not listening
        listening = listening or own_listener
        found.append(SmsService(sessions, make_gateway(settings, listen.url), node=node, events=events,
                                listen=listen if own_listener else None, producers=producers if not found else [],
                                poll_s=poll_s, known=set(gateways), recover=not found))  # fmt: skip
    return found
