"""Settings read from the environment (DIALER_*), with the sandbox's values as defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit


class ConfigError(ValueError):
    """A setting has a value the dialer cannot use; the message names the setting."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}: expected an integer, got {raw!r}") from None


def cache_dir() -> Path:
    """Where the dialer keeps what is built once and reused (sandbox chroots, prompt audio).

    Outside the repository: DIALER_CACHE_DIR, else $XDG_CACHE_HOME/asterisk-ivr-dialer.
    """
    explicit = os.environ.get("DIALER_CACHE_DIR")
    if explicit:
        return Path(explicit).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).resolve() / "asterisk-ivr-dialer"


def prompt_cache_dir() -> Path:
    """Rendered prompt audio (outside git); the sandbox bind-mounts it at the same path."""
    return cache_dir() / "prompts"


def node_name() -> str:
    """This dialer host's name in SQL (DIALER_NODE, else the host name)."""
    import socket

    return os.environ.get("DIALER_NODE") or socket.gethostname()


def database_url() -> str:
    """DIALER_DB_URL (any SQLAlchemy URL), else SQLite in $XDG_DATA_HOME/asterisk-ivr-dialer."""
    explicit = os.environ.get("DIALER_DB_URL")
    if explicit:
        return explicit
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    path = base.resolve() / "asterisk-ivr-dialer" / "dialer.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "dialer"
    secret: str = "dialer-sandbox-secret"
    connect_timeout: float = 5.0
    action_timeout: float = 10.0

    @classmethod
    def from_env(cls) -> AmiSettings:
        return cls(
            host=os.environ.get("DIALER_AMI_HOST", cls.host),
            port=_int_env("DIALER_AMI_PORT", cls.port),
            username=os.environ.get("DIALER_AMI_USER", cls.username),
            secret=os.environ.get("DIALER_AMI_SECRET", cls.secret),
        )


@dataclass(frozen=True)
class AgiSettings:
    host: str = "127.0.0.1"
    port: int = 4573

    @classmethod
    def from_env(cls) -> AgiSettings:
        return cls(
            host=os.environ.get("DIALER_AGI_HOST", cls.host),
            port=_int_env("DIALER_AGI_PORT", cls.port),
        )

    @property
    def url(self) -> str:
        return f"agi://{self.host}:{self.port}"


@dataclass
class EngineSettings:
    """How the daemon runs (dialer.engine)."""

    agi_url: str = "agi://127.0.0.1:4573"
    drain_timeout_s: float = 30.0
    poll_s: float = 1.0  # how often campaign states are re-read (start/pause/stop from the CLI)
    max_call_s: float = 3600.0
    reconnect_max_s: float = 10.0
    trunk_caps: dict[str, int] = field(default_factory=dict)  # trunk template -> live calls
    trunk_cps: dict[str, float] = field(default_factory=dict)  # trunk template -> calls/s (dialer.engine.pressure)


@dataclass(frozen=True)
class MqttSettings:
    """Where live events go (dialer.events): DIALER_MQTT_URL; unset means events are off."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    prefix: str = "dialer"
    client_id: str = "dialer"
    node: str = "dialer"

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "dialer", node: str = "dialer", name: str = "DIALER_MQTT_URL"
    ) -> MqttSettings:
        """mqtt://[user[:password]@]host[:port] or mqtts:// (TLS); errors name `name`, never the password."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"environment variable {name}: not a URL ({exc})") from None
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ConfigError(
                f"environment variable {name}: scheme must be mqtt:// or mqtts://, got {parts.scheme!r}"
            )
        if not parts.hostname:
            raise ConfigError(f"environment variable {name}: no host name")
        if parts.path not in ("", "/") or parts.query:
            raise ConfigError(f"environment variable {name}: unexpected path or query after the host")
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(c in prefix for c in "+#"):
            raise ConfigError(f"environment variable DIALER_MQTT_PREFIX: {prefix!r} is not a topic prefix "
                              "(no + or #, no leading or trailing /)")  # fmt: skip
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            prefix=prefix,
            client_id=f"dialer-{node}",
            node=node,
        )

    @classmethod
    def from_env(cls) -> MqttSettings | None:
        url = os.environ.get("DIALER_MQTT_URL")
        if not url:
            return None
        return cls.from_url(url, os.environ.get("DIALER_MQTT_PREFIX") or "dialer", node_name())
