"""`dialer webhooks ...`: subscriptions (add, list, remove) and the outbox (deliveries, retry)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.table import Table

from dialer.cli.common import DbUrlOpt, _fail, _sessions, console
from dialer.events.webhook_events import KINDS
from dialer.storage.webhook_store import DEAD, DELIVERED, PENDING, WebhookStore

webhooks_app = typer.Typer(help="Webhooks: signed events to CRMs, from a durable outbox.", no_args_is_help=True)


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where events are POSTed (https:// in production).")],
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's events (default: all).")] = None,
    events: Annotated[str, typer.Option("--events", help=f"Comma-separated kinds, or 'all': {', '.join(KINDS)}.")] = "all",
    secret: Annotated[str | None, typer.Option("--secret", help="The signing secret (default: a new random one).")] = None,
    db_url: DbUrlOpt = None,
) -> None:
    """Subscribe URL to events; prints the secret that signs them (shown this once)."""
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
        _fail(f"{url!r}: not an http(s) URL")
    kinds = [] if events.strip() == "all" else [k.strip() for k in events.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        _fail(f"--events: unknown kind {unknown[0]!r} (use {', '.join(KINDS)} or all)")
    secret = secret or secrets.token_urlsafe(32)
    if len(secret) < 16:
        _fail("--secret: at least 16 characters")
    try:
        with _sessions(db_url) as sessions:
            hook_id = WebhookStore(sessions).add(url, secret, kinds, campaign, datetime.now(UTC))
    except LookupError as exc:
        _fail(str(exc))
    console.print(f"webhook {hook_id}: {', '.join(kinds) or 'every kind'} of "
                  f"{'campaign ' + campaign if campaign else 'every campaign'} to {url}")  # fmt: skip
    console.print(f"secret (keep it; it signs every body): {secret}", highlight=False)


@webhooks_app.command("list")
def list_(db_url: DbUrlOpt = None) -> None:
    """Subscriptions and their deliveries by state."""
    table = Table(title="webhooks")
    for col in ("id", "campaign", "events", "url", PENDING, DELIVERED, DEAD):
        table.add_column(col)
    with _sessions(db_url) as sessions:
        hooks = WebhookStore(sessions).hooks()
    for hook, name, counts in hooks:
        table.add_row(str(hook.id), name or "(all)", ", ".join(hook.kinds) or "all", hook.url,
                      *(str(counts.get(state, 0)) for state in (PENDING, DELIVERED, DEAD)))  # fmt: skip
    console.print(table)


@webhooks_app.command("deliveries")
def deliveries(
    state: Annotated[str | None, typer.Option("--state", help="pending, delivered or dead.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    db_url: DbUrlOpt = None,
) -> None:
    """The latest deliveries (newest first): kind, tries, the receiver's last answer."""
    if state not in (None, PENDING, DELIVERED, DEAD):
        _fail(f"--state {state!r}: use pending, delivered or dead")
    table = Table(title="webhook deliveries")
    for col in ("id", "webhook", "kind", "attempt", "state", "tries", "last answer", "created"):
        table.add_column(col)
    with _sessions(db_url) as sessions:
        rows = WebhookStore(sessions).deliveries(state, limit)
    for d in rows:
        answer = d.last_error or (f"HTTP {d.last_status}" if d.last_status else "")
        table.add_row(str(d.id), str(d.webhook_id), d.kind, d.attempt_id or "", d.state, str(d.tries), answer,
                      f"{d.created_at:%Y-%m-%d %H:%M:%S}")  # fmt: skip
    console.print(table)


@webhooks_app.command("retry")
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids (see `webhooks deliveries`).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery.")] = False,
    db_url: DbUrlOpt = None,
) -> None:
    """Send deliveries again (dead ones get a fresh 24 hours); a running daemon sends them."""
    if not ids and not dead:
        _fail("name delivery ids, or --dead")
    with _sessions(db_url) as sessions:
        n = WebhookStore(sessions).retry(ids or [], dead, datetime.now(UTC))
    console.print(f"{n} deliveries queued again")


@webhooks_app.command("remove")
def remove(hook_id: Annotated[int, typer.Argument(help="The webhook's id.")], db_url: DbUrlOpt = None) -> None:
    """Remove a subscription and its deliveries."""
    with _sessions(db_url) as sessions:
        removed = WebhookStore(sessions).remove(hook_id)
    if not removed:
        _fail(f"no webhook {hook_id}")
    console.print(f"webhook {hook_id} removed")
