"""Query helpers the db modules share: rows to domain objects (each dataclass field from the
column of the same name), one-row lookups (also by id, in a scope), and the optional equality
filters of list queries."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from forgeml.db.scope import Scope, scoped
from forgeml.domain.errors import NotFound

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
R = TypeVar("R")
S = TypeVar("S", bound=sa.Select[Any])


def from_row(cls: type[T], row: RowMapping, **convert: Callable[[Any], Any]) -> T:
    """`cls(**fields)` from `row`; `convert` turns a raw column value into the field's type
    (enums, tuples from JSON lists, bool and int where SQLite hands back 0/1 or a Decimal)."""
    values = {f.name: row[f.name] for f in dataclasses.fields(cls)}
    for name, fn in convert.items():
        values[name] = fn(values[name])
    return cls(**values)


def one(
    conn: Connection, stmt: sa.Select[Any], to_domain: Callable[[RowMapping], R], missing: str
) -> R:
    """The row `stmt` selects, as a domain object; `NotFound(missing)` when there is none."""
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(missing)
    return to_domain(row)


def one_by_id(
    conn: Connection,
    scope: Scope,
    table: sa.Table,
    row_id: str,
    to_domain: Callable[[RowMapping], R],
    missing: str,
) -> R:
    """The row of `table` with this id, if `scope` sees it (else `NotFound(missing)`)."""
    stmt = scoped(sa.select(table).where(table.c.id == row_id), table, scope)
    return one(conn, stmt, to_domain, missing)


def where_given(stmt: S, *filters: tuple[sa.ColumnElement[Any], Any]) -> S:
    """`stmt` narrowed to `column == value` for each filter whose value is given (not empty)."""
    for column, value in filters:
        if value:
            stmt = stmt.where(column == value)
    return stmt
