"""The typed AMI failures the dialer reports (one class per way it fails)."""

from __future__ import annotations


class AmiError(Exception):
    """Base of every AMI failure the dialer reports."""


class AmiConnectError(AmiError):
    """Asterisk's manager port cannot be reached."""


class AmiAuthError(AmiError):
    """Asterisk refused the login (wrong user or secret, or a deny/permit rule)."""


class AmiTimeout(AmiError):
    """Asterisk did not answer in time."""


class AmiDisconnected(AmiError):
    """The connection dropped while an action was waiting for its answer."""


class AmiActionError(AmiError):
    """Asterisk answered an action with Response: Error."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI action {action} failed: {message}")
        self.action = action
        self.message = message
