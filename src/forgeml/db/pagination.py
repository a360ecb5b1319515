"""Cursor pagination by id: ids are time-ordered, so `id < cursor` walks newest to oldest."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.domain.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = data["after"]
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        return value
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput.fields([{"loc": "cursor", "msg": "not a valid cursor"}]) from exc


def paginate(
    conn: Connection,
    stmt: sa.Select[Any],
    id_col: sa.ColumnElement[str],
    mapper: Callable[[RowMapping], T],
    *,
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """Run `stmt` newest-first from after `cursor`, returning at most `limit` items."""
    if cursor:
        stmt = stmt.where(id_col < decode_cursor(cursor))
    rows = conn.execute(stmt.order_by(id_col.desc()).limit(limit + 1)).mappings().all()
    items = [mapper(r) for r in rows[:limit]]
    nxt = encode_cursor(str(rows[limit - 1]["id"])) if len(rows) > limit else None
    return Page(items=items, next_cursor=nxt)
