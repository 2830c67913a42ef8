"""AMI access: the only package that imports panoramisk."""

from dialer.ami.client import AmiClient
from dialer.ami.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectError,
    AmiDisconnected,
    AmiError,
    AmiTimeout,
)
from dialer.ami.events import EventStream

__all__ = [
    "AmiActionError",
    "AmiAuthError",
    "AmiClient",
    "AmiConnectError",
    "AmiDisconnected",
    "AmiError",
    "AmiTimeout",
    "EventStream",
]
