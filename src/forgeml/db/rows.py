"""Rows to domain objects: each dataclass field is read from the column of the same name."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import RowMapping

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def from_row(cls: type[T], row: RowMapping, **convert: Callable[[Any], Any]) -> T:
    """`cls(**fields)` from `row`; `convert` turns a raw column value into the field's type
    (enums, tuples from JSON lists, bool and int where SQLite hands back 0/1 or a Decimal)."""
    values = {f.name: row[f.name] for f in dataclasses.fields(cls)}
    for name, fn in convert.items():
        values[name] = fn(values[name])
    return cls(**values)
