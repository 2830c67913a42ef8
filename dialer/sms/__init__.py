"""SMS: message templates and segments, the gateway interface and its Kannel/SMPP backends,
delivery reports and replies (README, "SMS")."""

from __future__ import annotations

from dialer.sms.gateway import Gateway
from dialer.sms.settings import GatewaySettings


def make_gateway(settings: GatewaySettings, callback_url: str) -> Gateway:
    """The backend the settings name; `callback_url`: where Kannel reaches our listener."""
    if settings.kind == "kannel":
        from dialer.sms.kannel import KannelGateway

        return KannelGateway(settings, callback_url)
    from dialer.sms.smpp import SmppGateway

    return SmppGateway(settings)
