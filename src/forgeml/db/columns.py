"""Column factories the table modules share (`from forgeml.db import columns as col`): ids, tenant
ids, timestamps, required-by-default strings and typed columns; each call makes a new Column,
as a Column belongs to one table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from forgeml.db.types import UTCDateTime

ID = sa.String(32)

TypeArg = sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]


def id_column() -> sa.Column[str]:
    return sa.Column("id", ID, primary_key=True)


def serial() -> sa.Column[int]:
    """An autoincrementing integer `id` (append-only rows: login attempts, transitions)."""
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def tenant_column(*, nullable: bool, references: bool = True) -> sa.Column[str]:
    """The indexed `tenant_id` that `db/scope.py` filters on; `references=False` on child rows
    that copy it from their parent (the parent's foreign key already guards it)."""
    fk = (sa.ForeignKey("tenants.id"),) if references else ()
    return sa.Column("tenant_id", ID, *fk, nullable=nullable, index=True)


def timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime, nullable=nullable)


def stamps() -> tuple[sa.Column[datetime], sa.Column[datetime]]:
    """`created_at` and `updated_at`, the pair most tables carry."""
    return timestamp("created_at"), timestamp("updated_at")


def string(name: str, length: int, *, nullable: bool = False, **kw: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable, **kw)


def typed(name: str, type_: TypeArg, *, nullable: bool = False, **kw: Any) -> sa.Column[Any]:
    """Any other column; required unless said otherwise, as most are."""
    return sa.Column(name, type_, nullable=nullable, **kw)


def key(name: str, *, nullable: bool = False, **kw: Any) -> sa.Column[str]:
    """An id of another row, without a foreign key (see `reference`)."""
    return sa.Column(name, ID, nullable=nullable, **kw)


def reference(
    name: str, table: str, *, ondelete: str | None = None, nullable: bool = False, **kw: Any
) -> sa.Column[str]:
    """An id column with a foreign key to `table.id`."""
    fk = sa.ForeignKey(f"{table}.id", ondelete=ondelete)
    return sa.Column(name, ID, fk, nullable=nullable, **kw)
