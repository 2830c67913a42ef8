"""`dialer users add|remove|list`: who may log in to the dashboard (passwords hashed with scrypt).
Each change is an audit row (actor `cli:<login name>`)."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from dialer.cli.common import DbUrlOpt, _fail, _session, console
from dialer.storage import web_store
from dialer.web.passwords import PasswordError, hash_password
from dialer.web.settings import LANGUAGES

users_app = typer.Typer(help="Dashboard users: add, remove, list.", no_args_is_help=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name (a container): still audited
        return "cli:unknown"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Password again", hide_input=True) != first:
        _fail("the two passwords differ")
    return str(first)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    language: Annotated[str | None, typer.Option(help="es, en or pl (default: the browser's).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    url: DbUrlOpt = None,
) -> None:
    """Add a user; the password is asked for twice (or read from stdin), at least 10 characters."""
    if not name or len(name) > 64 or any(c.isspace() or c == ":" for c in name):
        _fail(f"user name {name!r}: 1 to 64 characters, no spaces or colons")
    if language is not None and language not in LANGUAGES:
        _fail(f"--language {language!r}: expected one of {', '.join(LANGUAGES)}")
    try:
        hashed = hash_password(_password(password_stdin))
    except PasswordError as exc:
        _fail(str(exc))
    now = datetime.now(UTC)
    with _session(url, write=True) as s:
        try:
            web_store.add_user(s, name, hashed, now, language)
        except web_store.UserError as exc:
            _fail(str(exc))
        web_store.audit(s, at=now, actor=_actor(), action="user.add", target=f"user:{name}", result="ok")
    console.print(f"user {name} added")


@users_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Login name.")], url: DbUrlOpt = None) -> None:
    """Remove a user; their sessions end at once."""
    with _session(url, write=True) as s:
        try:
            web_store.remove_user(s, name)
        except web_store.UserError as exc:
            _fail(str(exc))
        web_store.audit(s, at=datetime.now(UTC), actor=_actor(), action="user.remove", target=f"user:{name}",
                        result="ok")  # fmt: skip
    console.print(f"user {name} removed")


@users_app.command("list")
def list_users(url: DbUrlOpt = None) -> None:
    """The users, with when each was added."""
    with _session(url) as s:
        for user in web_store.users(s):
            print(f"{user.name}\t{user.language or '-'}\t{user.created_at:%Y-%m-%d %H:%M}Z")
