"""Password hashes for dashboard users: scrypt (hashlib), a random salt each, compared in constant time.

Stored as `scrypt$N$r$p$salt$hash` (base64), so the cost can be raised later and old hashes still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1  # about 16 MB and some tens of ms per check
MIN_LENGTH = 10
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class PasswordError(ValueError):
    """A password the dialer will not take; the message says why."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * 2, dklen=32)


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"the password is shorter than {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str | None) -> bool:
    """True if `password` matches; an unknown user (stored None) costs the same time and is False."""
    try:
        kind, n, r, p, salt, digest = (stored or _DUMMY).split("$")
        if kind != "scrypt":
            return False
        found = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, base64.b64decode(digest)) and stored is not None
