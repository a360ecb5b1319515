"""Credential material: random tokens shown once and stored as hashes; argon2id passwords."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A real hash to verify against when the user does not exist, so timing does not leak that.
_DUMMY_HASH = _hasher.hash("forgeml-dummy-password")

TOKEN_PREFIX = "fml"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> tuple[str, str, str]:
    """Return (token shown once, visible prefix, sha256 hash to store)."""
    visible = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}_{visible}_{secrets.token_urlsafe(32)}"
    return token, f"{TOKEN_PREFIX}_{visible}", hash_token(token)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no brute force possible).
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_secret() -> tuple[str, str, str]:
    """Return (cookie value, its hash, CSRF token)."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw), secrets.token_urlsafe(24)


def new_password() -> str:
    return secrets.token_urlsafe(18)
