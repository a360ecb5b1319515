"""Object ids: a type prefix plus a time-ordered random part, so ids sort by creation.

Sorting by id is what cursor pagination uses, so no list needs a second ordering column.
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_ID_RE = re.compile(r"^[a-z]{2,5}_[0-9a-hjkmnp-tv-z]{24}$")


def _b32(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """Return e.g. `tnt_01jd3k...`: 10 chars of milliseconds, 14 chars of randomness."""
    ms = time.time_ns() // 1_000_000
    return f"{prefix}_{_b32(ms, 10)}{_b32(secrets.randbits(70), 14)}"


def looks_like_id(value: str) -> bool:
    """Cheap syntactic check used before touching the database."""
    return bool(_ID_RE.match(value))
