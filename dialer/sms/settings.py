"""SMS settings: the gateway (DIALER_SMS_GATEWAY, a URL whose password is never logged), the HTTP
listener for Kannel's receipts and replies (DIALER_SMS_LISTEN), and a campaign's [sms] table.

    kannel://USER:PASSWORD@HOST:SENDSMS_PORT[?callback=http://HOST:PORT]
    smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?window=10&rate=20&system_type=&source_ton=5&source_npi=0]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from dialer.config import ConfigError

GATEWAY_ENV = "DIALER_SMS_GATEWAY"
LISTEN_ENV = "DIALER_SMS_LISTEN"
SMPP_OPTIONS = {"window": 10, "rate": 20.0, "system_type": "", "source_ton": 5, "source_npi": 0,
                "dest_ton": 1, "dest_npi": 1, "timeout": 10.0, "enquire_link": 30.0}  # fmt: skip


@dataclass(frozen=True)
class GatewaySettings:
    kind: str  # kannel | smpp
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    options: dict[str, str | int | float] = field(default_factory=dict)
    name: str = "default"

    @property
    def where(self) -> str:
        """For logs and messages: no password."""
        return f"{self.kind}://{self.username}@{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, name: str = "default", env: str = GATEWAY_ENV) -> GatewaySettings:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"environment variable {env}: not a URL ({exc})") from None
        if parts.scheme not in ("kannel", "smpp"):
            raise ConfigError(f"environment variable {env}: scheme must be kannel:// or smpp://, got {parts.scheme!r}")
        if not parts.hostname or not port:
            raise ConfigError(f"environment variable {env}: needs a host and a port")
        if not parts.username:
            raise ConfigError(f"environment variable {env}: needs a user (kannel) or system_id (smpp)")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        options: dict[str, str | int | float] = {}
        if parts.scheme == "smpp":
            for key, value in query.items():
                if key not in SMPP_OPTIONS:
                    raise ConfigError(f"environment variable {env}: unknown option {key!r} "
                                      f"(known: {', '.join(SMPP_OPTIONS)})")  # fmt: skip
                kind = type(SMPP_OPTIONS[key])
                try:
                    options[key] = kind(value)
                except ValueError:
                    raise ConfigError(f"environment variable {env}: {key}={value!r} is not a {kind.__name__}") from None
            options = {**SMPP_OPTIONS, **options}
        else:
            for key, value in query.items():
                if key != "callback":
                    raise ConfigError(f"environment variable {env}: unknown option {key!r} (known: callback)")
                options[key] = value.rstrip("/")
        return cls(parts.scheme, parts.hostname, port, unquote(parts.username), unquote(parts.password or ""),
                   options, name)  # fmt: skip

    @classmethod
    def from_env(cls) -> GatewaySettings | None:
        url = os.environ.get(GATEWAY_ENV)
        return cls.from_url(url) if url else None


@dataclass(frozen=True)
class ListenSettings:
    """The daemon's HTTP listener for Kannel's delivery reports and replies."""

    host: str = "127.0.0.1"
    port: int = 13080
    allow: tuple[str, ...] = ("127.0.0.1", "::1")  # peers whose requests are believed

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls) -> ListenSettings:
        raw = os.environ.get(LISTEN_ENV, "")
        if not raw:
            return cls()
        host, sep, port = raw.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"environment variable {LISTEN_ENV}: expected HOST:PORT, got {raw!r}")
        allow = tuple(a for a in os.environ.get("DIALER_SMS_ALLOW", "").split(",") if a) or cls.allow
        return cls(host or "127.0.0.1", int(port), allow)
