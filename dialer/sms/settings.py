"""SMS settings: the gateways (DIALER_SMS_GATEWAY, the one named "default", and any number of named
ones, DIALER_SMS_GATEWAY_<NAME>, each a URL whose password is never logged; a campaign picks one by
`[sms] gateway = "<name>"`), and the HTTP listener for Kannel's receipts and replies (DIALER_SMS_LISTEN).

    kannel://USER:PASSWORD@HOST:SENDSMS_PORT[?callback=http://HOST:PORT]
    smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?window=10&rate=20&system_type=&source_ton=5&source_npi=0]
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from dialer.config import ConfigError
from dialer.storage.sms_claim import DEFAULT_GATEWAY

GATEWAY_ENV = "DIALER_SMS_GATEWAY"
LISTEN_ENV = "DIALER_SMS_LISTEN"
DEFAULT = DEFAULT_GATEWAY  # the gateway of DIALER_SMS_GATEWAY, and of campaigns that name none
_NAMED = re.compile(rf"{GATEWAY_ENV}_(\w+)")
_NAME = re.compile(r"[a-z0-9_]{1,20}")
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


def env_var(name: str) -> str:
    """The environment variable that configures the gateway called `name`."""
    return GATEWAY_ENV if name == DEFAULT else f"{GATEWAY_ENV}_{name.upper()}"


def _variables(env: Mapping[str, str]) -> dict[str, str]:
    """Configured gateway name -> its environment variable ("default" first, then by name)."""
    found = {DEFAULT: GATEWAY_ENV} if env.get(GATEWAY_ENV) else {}
    for key in sorted(env):
        named = _NAMED.fullmatch(key)
        if not named or not env[key]:
            continue
        name = named.group(1).lower()
        if name == DEFAULT:
            raise ConfigError(f"environment variable {key}: the default gateway is {GATEWAY_ENV}")
        if name in found:
            raise ConfigError(f"environment variables {found[name]} and {key}: the same gateway name twice")
        if not _NAME.fullmatch(name):
            raise ConfigError(f"environment variable {key}: a gateway name is 1 to 20 letters, digits or _")
        found[name] = key
    return found


def gateway_names(environ: Mapping[str, str] | None = None) -> set[str]:
    """The names of the configured gateways (variables set and not empty), URLs unread: "default"
    for DIALER_SMS_GATEWAY, NAME in lower case for DIALER_SMS_GATEWAY_NAME."""
    return set(_variables(os.environ if environ is None else environ))


def gateways_from_env(environ: Mapping[str, str] | None = None) -> dict[str, GatewaySettings]:
    """Every configured gateway by name, "default" first, then the others by name."""
    env = os.environ if environ is None else environ
    return {name: GatewaySettings.from_url(env[var], name, var) for name, var in _variables(env).items()}


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
