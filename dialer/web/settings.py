"""The HTTP face's settings from the environment (DIALER_WEB_*), like the daemon's (dialer.config).

The server runs inside `dialer run` when DIALER_WEB_PORT is set (unset: no HTTP server), bound to
DIALER_WEB_HOST (127.0.0.1 by default: put a TLS proxy in front to reach it from elsewhere).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dialer.config import LOOPBACK_HOSTS, ConfigError, _float_env, _int_env

LANGUAGES = ("en", "es", "pl")


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment variable {name}: expected 1 or 0, got {raw!r}")


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # cookies only over HTTPS; 0 for plain http on this host (a browser on the PBX, or tests)
    secure_cookies: bool = True
    session_hours: int = 12
    language: str = "en"  # when neither the user nor the browser names one we have
    refresh_s: float = 1.0  # how often the live pages' figures are read from SQL (all viewers share it)
    metrics_token: str | None = field(default=None, repr=False)  # bearer token for /metrics (Prometheus)
    api_rate: float = 10.0  # requests a second per API key, on average (DIALER_API_RATE)
    api_burst: int = 50  # and at once (DIALER_API_BURST)

    @classmethod
    def from_env(cls) -> WebSettings | None:
        """None when DIALER_WEB_PORT is unset (the server is off)."""
        if not os.environ.get("DIALER_WEB_PORT"):
            return None
        port = _int_env("DIALER_WEB_PORT", cls.port)
        if not 0 < port < 65536:
            raise ConfigError(f"environment variable DIALER_WEB_PORT: {port} is not a TCP port")
        language = os.environ.get("DIALER_WEB_LANGUAGE") or cls.language
        if language not in LANGUAGES:
            raise ConfigError(f"environment variable DIALER_WEB_LANGUAGE: {language!r} is not one of "
                              f"{', '.join(LANGUAGES)}")  # fmt: skip
        hours = _int_env("DIALER_WEB_SESSION_HOURS", cls.session_hours)
        if hours < 1:
            raise ConfigError("environment variable DIALER_WEB_SESSION_HOURS: expected at least 1")
        host = os.environ.get("DIALER_WEB_HOST") or cls.host
        secure = _flag("DIALER_WEB_SECURE_COOKIES", True)
        if not secure and host not in LOOPBACK_HOSTS:
            raise ConfigError("environment variable DIALER_WEB_SECURE_COOKIES=0 is only for a server bound to "
                              f"this host (DIALER_WEB_HOST is {host})")  # fmt: skip
        return cls(host=host, port=port, secure_cookies=secure, session_hours=hours, language=language,
                   metrics_token=_metrics_token(), api_rate=_float_env("DIALER_API_RATE", cls.api_rate),
                   api_burst=_int_env("DIALER_API_BURST", cls.api_burst))  # fmt: skip


def _metrics_token() -> str | None:
    """DIALER_WEB_METRICS_TOKEN_FILE (a file holding it) or DIALER_WEB_METRICS_TOKEN; at least 16 chars."""
    path = os.environ.get("DIALER_WEB_METRICS_TOKEN_FILE")
    name = "DIALER_WEB_METRICS_TOKEN_FILE" if path else "DIALER_WEB_METRICS_TOKEN"
    try:
        token = Path(path).read_text().strip() if path else os.environ.get("DIALER_WEB_METRICS_TOKEN", "")
    except OSError as exc:
        raise ConfigError(f"environment variable {name}: cannot read {path}: {exc.strerror}") from None
    if token and len(token) < 16:
        raise ConfigError(f"environment variable {name}: the token is shorter than 16 characters")
    return token or None
