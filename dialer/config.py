"""Settings read from the environment (DIALER_*), with the sandbox's values as defaults."""

from __future__ import annotations

import hashlib
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


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}: expected a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"environment variable {name}: must be more than 0, got {raw!r}")
    return value


def cache_dir() -> Path:
    """Where the dialer keeps what is built once and reused (sandbox chroots, prompt audio).

    Outside the repository: DIALER_CACHE_DIR, else $XDG_CACHE_HOME/asterisk-ivr-dialer.
    """
    explicit = os.environ.get("DIALER_CACHE_DIR")
    if explicit:
        return Path(explicit).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).resolve() / "asterisk-ivr-dialer"


@dataclass(frozen=True)
class AudioSettings:
    """Personal audio prepared at each claim: DIALER_AUDIO_BUDGET_MB of disk (least recently used
    files go first), DIALER_PREPARE_WORKERS render processes (unset: one per core)."""

    budget_mb: int = 2048
    workers: int | None = None

    @classmethod
    def from_env(cls) -> AudioSettings:
        workers = _int_env("DIALER_PREPARE_WORKERS", 0)
        return cls(budget_mb=_int_env("DIALER_AUDIO_BUDGET_MB", cls.budget_mb), workers=workers or None)


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook retries: DIALER_WEBHOOK_RETRY_S after the first failure (doubling, at most an hour
    apart), for DIALER_WEBHOOK_MAX_AGE_H hours; then the delivery is dead."""

    first_retry_s: float = 10.0
    max_age_h: float = 24.0

    @classmethod
    def from_env(cls) -> WebhookSettings:
        return cls(first_retry_s=_float_env("DIALER_WEBHOOK_RETRY_S", cls.first_retry_s),
                   max_age_h=_float_env("DIALER_WEBHOOK_MAX_AGE_H", cls.max_age_h))  # fmt: skip


def prompt_cache_dir() -> Path:
    """Rendered prompt audio (outside git); the sandbox bind-mounts it at the same path."""
    return cache_dir() / "prompts"


def data_dir() -> Path:
    """Where the dialer keeps what it must not lose (the SQLite database by default, the endings
    journal): DIALER_DATA_DIR, else $XDG_DATA_HOME/asterisk-ivr-dialer."""
    explicit = os.environ.get("DIALER_DATA_DIR")
    if explicit:
        return Path(explicit).resolve()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).resolve() / "asterisk-ivr-dialer"


def journal_path(db_url: str, node: str) -> Path:
    """The endings journal of one node on one database (dialer.engine.journal), in the data
    directory: named for both, so a journal is only ever replayed into the database it belongs to."""
    digest = hashlib.sha256(f"{db_url}\n{node}".encode()).hexdigest()[:16]
    safe_node = "".join(c if c.isalnum() or c in "-_." else "_" for c in node) or "node"
    return data_dir() / "journal" / f"endings-{safe_node}-{digest}.jsonl"


def node_name() -> str:
    """This dialer host's name in SQL (DIALER_NODE, else the host name)."""
    import socket

    return os.environ.get("DIALER_NODE") or socket.gethostname()


def database_url() -> str:
    """DIALER_DB_URL (any SQLAlchemy URL), else SQLite in the data directory."""
    explicit = os.environ.get("DIALER_DB_URL")
    if explicit:
        return explicit
    path = data_dir() / "dialer.db"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the database file itself: 0600 (storage.db)
    return f"sqlite:///{path}"


SANDBOX_SECRET = "dialer-sandbox-secret"  # asterisk_conf/manager.conf's: public, so the sandbox's only
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "dialer"
    secret: str = field(default=SANDBOX_SECRET, repr=False)
    connect_timeout: float = 5.0
    action_timeout: float = 10.0

    @classmethod
    def from_env(cls) -> AmiSettings:
        """The daemon's AMI login; the sandbox's secret only for the sandbox (see refuse_sandbox_secret)."""
        settings = cls(
            host=os.environ.get("DIALER_AMI_HOST", cls.host),
            port=_int_env("DIALER_AMI_PORT", cls.port),
            username=os.environ.get("DIALER_AMI_USER", cls.username),
            secret=os.environ.get("DIALER_AMI_SECRET") or SANDBOX_SECRET,
        )
        settings.refuse_sandbox_secret()
        return settings

    def refuse_sandbox_secret(self) -> None:
        """ConfigError when the secret is the sandbox's, unless this is the sandbox: DIALER_SANDBOX=1
        (the sandbox tooling and the tests set it) and an AMI on this host (the sandbox's listens
        on 127.0.0.1 only)."""
        if self.secret != SANDBOX_SECRET:
            return
        if os.environ.get("DIALER_SANDBOX") == "1" and self.host in LOOPBACK_HOSTS:
            return
        where = "" if self.host in LOOPBACK_HOSTS else f" (the sandbox is never at {self.host})"
        raise ConfigError(f"DIALER_AMI_SECRET is unset or the sandbox's public secret{where}: set your AMI "
                          "user's secret, or DIALER_SANDBOX=1 for the sandbox")  # fmt: skip


@dataclass(frozen=True)
class AgiSettings:
    host: str = "127.0.0.1"
    port: int = 4573
    # the addresses Asterisk connects from (dialer.ivr.trust.PeerPolicy parses them)
    peers: str = "127.0.0.1, ::1"
    max_per_peer: int = 2000  # sessions one peer may hold (the server's own cap is 2,000)

    @classmethod
    def from_env(cls) -> AgiSettings:
        return cls(
            host=os.environ.get("DIALER_AGI_HOST", cls.host),
            port=_int_env("DIALER_AGI_PORT", cls.port),
            peers=os.environ.get("DIALER_AGI_PEERS") or cls.peers,
            max_per_peer=_int_env("DIALER_AGI_MAX_PER_PEER", cls.max_per_peer),
        )

    @property
    def url(self) -> str:
        return f"agi://{self.host}:{self.port}"


@dataclass(frozen=True)
class ReturnCallSettings:
    """Return calls (dialer.ivr.return_calls): DIALER_RETURN_DAYS (a caller is matched to the people
    called or texted on that number in this many days), DIALER_RETURN_REGION (a caller number without
    a country code is read as this region's), DIALER_RETURN_UNKNOWN_FLOW (a flow file for unknown and
    shared numbers; unset: a message and the queue), DIALER_RETURN_LANG (its language when the DID is
    no campaign's caller ID)."""

    days: int = 14
    region: str = "ES"
    unknown_flow: str = ""
    language: str = "es"

    @classmethod
    def from_env(cls) -> ReturnCallSettings:
        days = _int_env("DIALER_RETURN_DAYS", cls.days)
        if days < 1:
            raise ConfigError(f"environment variable DIALER_RETURN_DAYS: {days} is not >= 1")
        return cls(days=days, region=os.environ.get("DIALER_RETURN_REGION") or cls.region,
                   unknown_flow=os.environ.get("DIALER_RETURN_UNKNOWN_FLOW") or "",
                   language=os.environ.get("DIALER_RETURN_LANG") or cls.language)  # fmt: skip


@dataclass
class EngineSettings:
    """How the daemon runs (dialer.engine)."""

    agi_url: str = "agi://127.0.0.1:4573"
    drain_timeout_s: float = 30.0
    poll_s: float = 1.0  # how often campaign states are re-read (start/pause/stop from the CLI)
    max_call_s: float = 3600.0
    reconnect_max_s: float = 10.0
    sql_timeout_s: float = 10.0  # the engine stops waiting for one SQL job after this
    trunk_caps: dict[str, int] = field(default_factory=dict)  # trunk template -> live calls
    heartbeat_s: float = 5.0  # how often this node's row says it is alive
    node_dead_after_s: float = 20.0  # another node silent this long is dead: its calls get resolved
    # endings SQL refuses: journaled at once, retried this long, then left to the replay
    sql_retry_s: float = 10.0
    replay_every_s: float = 5.0  # how often journaled endings are offered to SQL again
    sweep_every_s: float = 30.0  # how often this run's attempts that no call tracks are ended
    journal: Path | None = None  # None: config.journal_path(database URL, node)
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
