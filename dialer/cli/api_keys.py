"""`dialer api-keys add|remove|list`: keys of the HTTP API (/api/v1), stored hashed; the key is
printed once, at `add`. Each change is an audit row (actor `cli:<login name>`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from dialer.cli.common import DbUrlOpt, _fail, _session, console, err
from dialer.cli.users import _actor
from dialer.storage import api_key_store, web_store
from dialer.web.api_keys import new_key
from dialer.web.auth import token_hash

api_keys_app = typer.Typer(help="HTTP API keys: add, remove, list.", no_args_is_help=True)


@api_keys_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The key's name (who uses it: crm, billing, ...).")],
    scope: Annotated[str, typer.Option(help="read, write (read too) or admin.")] = "read",
    url: DbUrlOpt = None,
) -> None:
    """Add a key and print it once (only its hash is kept)."""
    if not name or len(name) > 64 or any(c.isspace() or c == ":" for c in name):
        _fail(f"key name {name!r}: 1 to 64 characters, no spaces or colons")
    key, now = new_key(), datetime.now(UTC)
    with _session(url, write=True) as s:
        try:
            api_key_store.add_key(s, name, token_hash(key), scope, now)
        except web_store.UserError as exc:
            _fail(str(exc))
        web_store.audit(s, at=now, actor=_actor(), action="api_key.add", target=f"key:{name}", result="ok",
                        details={"scope": scope})  # fmt: skip
    print(key)
    err.print(f"API key {name} ({scope}) added: keep the key above, it is not shown again")


@api_keys_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The key's name.")], url: DbUrlOpt = None) -> None:
    """Remove a key; requests with it are refused at once."""
    with _session(url, write=True) as s:
        try:
            api_key_store.remove_key(s, name)
        except web_store.UserError as exc:
            _fail(str(exc))
        web_store.audit(s, at=datetime.now(UTC), actor=_actor(), action="api_key.remove", target=f"key:{name}",
                        result="ok")  # fmt: skip
    console.print(f"API key {name} removed")


@api_keys_app.command("list")
def list_keys(url: DbUrlOpt = None) -> None:
    """The keys: name, scope, created, last used."""
    with _session(url) as s:
        for key in api_key_store.keys(s):
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}Z" if key.last_used_at else "never"
            print(f"{key.name}\t{key.scope}\t{key.created_at:%Y-%m-%d %H:%M}Z\t{used}")
