"""The HTTP face: the supervisor's dashboard, /metrics for Prometheus, authentication and the audit
trail (README, "Dashboard and metrics"). Later: /api/v1 with API keys on the same server."""

from dialer.web.app import WebServer, make_app
from dialer.web.context import LiveState, WebDeps
from dialer.web.settings import WebSettings

__all__ = ["LiveState", "WebDeps", "WebServer", "WebSettings", "make_app"]
