"""The IVR side of a call: the AGI protocol (agi), the FastAGI server (fastagi), and flows."""

from dialer.ivr.agi import (
    AgiError,
    AgiHangup,
    AgiResult,
    AgiTimeout,
    AgiUsageError,
    escape_arg,
)
from dialer.ivr.agi_channel import AgiChannel
from dialer.ivr.fastagi import FastAgiServer, Handler

__all__ = [
    "AgiChannel",
    "AgiError",
    "AgiHangup",
    "AgiResult",
    "AgiTimeout",
    "AgiUsageError",
    "FastAgiServer",
    "Handler",
    "escape_arg",
]
