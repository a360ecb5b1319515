"""Response models generated from the domain dataclasses they render: one field per dataclass
field, in its order and with its type, so an API model cannot drift from its record."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable, Mapping
from functools import reduce
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, Field, create_model

M = TypeVar("M", bound=BaseModel)


def shown_type(annotation: Any) -> Any:
    """The type the API shows for a domain field's type: a variable-length tuple (the domain's
    immutable sequence) is a JSON array, so a list, the same in the schema and in `model_dump`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[args[0]]  # type: ignore[valid-type]
    if origin is Union or origin is UnionType:
        return reduce(operator.or_, (shown_type(a) for a in args))
    return annotation


def domain_types(source: type) -> dict[str, Any]:
    """Each field of the dataclass `source` with the type the API shows for it, in field order."""
    hints = get_type_hints(source)
    return {f.name: shown_type(hints[f.name]) for f in dataclasses.fields(source)}


def mirrors(
    source: type,
    *,
    exclude: Iterable[str] = (),
    describe: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Callable[[type[M]], type[M]]:
    """Class decorator: the model keeps its own fields first, then gains each field of the
    dataclass `source` but `exclude` (required, as a response always carries it), then `extra`
    (name: type, e.g. a property's). `describe` documents mirrored fields in the schema.

    The class statement stays, so the name is importable, typed, and subclassable; mypy sees
    only its own fields (routes build these models with `model_validate`)."""
    skip = set(exclude)
    notes = describe or {}
    unknown = (skip | set(notes)) - {f.name for f in dataclasses.fields(source)}
    if unknown:  # a typo here would silently show, or leave undescribed, a field
        raise TypeError(f"{source.__name__} has no fields {sorted(unknown)}")

    def build(cls: type[M]) -> type[M]:
        fields: dict[str, Any] = {
            name: (tp, Field(description=notes[name]) if name in notes else ...)
            for name, tp in domain_types(source).items()
            if name not in skip
        }
        fields.update({name: (tp, ...) for name, tp in (extra or {}).items()})
        # __doc__ passed on: pydantic reads a model's description from its own docstring only.
        model = create_model(
            cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__, **fields
        )
        model.__qualname__ = cls.__qualname__
        return model

    return build
