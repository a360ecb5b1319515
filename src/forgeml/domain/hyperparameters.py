"""Hyperparameter semantics: declaration rules for manifests, and job values checked against them.

Values are stored as SageMaker stores them: a string → string map.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Literal, Protocol

from forgeml.domain.errors import InvalidInput

MAX_HYPERPARAMETERS = 100  # SageMaker: at most 100 hyperparameters per job
MAX_KEY_LENGTH = 256
MAX_VALUE_LENGTH = 2500
# Keys the SageMaker training toolkit reads as its own (which program, from where, log level):
# a tenant must never choose them, and no manifest may declare them.
TOOLKIT_PREFIX = "sagemaker_"
TOOLKIT_KEYS = frozenset({"_tuning_objective_metric"})

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def is_toolkit_key(key: str) -> bool:
    return key.startswith(TOOLKIT_PREFIX) or key in TOOLKIT_KEYS


class HyperparameterType(StrEnum):
    """SageMaker's Integer, Continuous, Categorical and FreeText, spelled for YAML."""

    INTEGER = "integer"
    CONTINUOUS = "continuous"
    CATEGORICAL = "categorical"
    FREE_TEXT = "free-text"


class Declared(Protocol):
    """What these rules read of one declaration (a manifest's `HyperparameterSpec`)."""

    @property
    def type(self) -> HyperparameterType: ...
    @property
    def default(self) -> int | float | str | None: ...
    @property
    def min(self) -> int | float | str | None: ...
    @property
    def max(self) -> int | float | str | None: ...
    @property
    def scale(self) -> Literal["linear", "log", "auto"] | None: ...
    @property
    def values(self) -> tuple[int | float | str, ...] | None: ...
    @property
    def required(self) -> bool: ...
    @property
    def tunable(self) -> bool: ...
    @property
    def choices(self) -> tuple[str, ...]: ...


def format_value(value: int | float | str) -> str:
    """The stored string form: ints as digits, floats in shortest round-trip form, bools as JSON."""
    if isinstance(value, bool):
        # sagemaker-training json-decodes values, so "true" comes back to scripts as True.
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


def range_problem(
    value: int | float, lo: int | float | str | None, hi: int | float | str | None
) -> str | None:
    """`2.0 is above max 1.0` or None; text bounds (refused by the manifest) are ignored."""
    if isinstance(lo, int | float) and value < lo:
        return f"{format_value(value)} is below min {format_value(lo)}"
    if isinstance(hi, int | float) and value > hi:
        return f"{format_value(value)} is above max {format_value(hi)}"
    return None


_RANGED = {HyperparameterType.INTEGER, HyperparameterType.CONTINUOUS}


def declaration_problems(spec: Declared) -> list[tuple[str, str]]:
    """Cross-field rules of one hyperparameter, as (field, message) pairs."""
    problems = [
        (field, f"not allowed for {spec.type} hyperparameters")
        for field in ("min", "max", "scale", "values")
        if getattr(spec, field) is not None and field not in _fields_for(spec.type)
    ]
    if spec.type in _RANGED:
        problems += _numeric_problems(spec)
    elif spec.type is HyperparameterType.CATEGORICAL:
        problems += _categorical_problems(spec)
    elif spec.tunable:
        problems.append(("tunable", "free-text hyperparameters cannot be tuned"))
    if spec.required and spec.default is not None:
        problems.append(("default", "a required hyperparameter cannot have a default"))
    if spec.default is not None and len(format_value(spec.default)) > MAX_VALUE_LENGTH:
        problems.append(("default", f"is longer than {MAX_VALUE_LENGTH} characters"))
    return problems


def _fields_for(kind: HyperparameterType) -> set[str]:
    if kind in _RANGED:
        return {"min", "max", "scale"}
    return {"values"} if kind is HyperparameterType.CATEGORICAL else set()


def _numeric_problems(spec: Declared) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    numbers: dict[str, int | float] = {}
    for field in ("min", "max", "default"):
        value = getattr(spec, field)
        problem = _number_problem(value, integer=spec.type is HyperparameterType.INTEGER)
        if problem:
            problems.append((field, problem))
        elif value is not None:
            numbers[field] = value
    lo, hi = numbers.get("min"), numbers.get("max")
    if lo is not None and hi is not None and lo > hi:
        problems.append(("min", f"{format_value(lo)} is above max {format_value(hi)}"))
    elif "default" in numbers:
        problem = range_problem(numbers["default"], lo, hi)
        problems += [("default", problem)] if problem else []
    if spec.scale == "log" and (lo is None or lo <= 0):
        problems.append(("scale", "log scale needs min > 0"))
    return problems


def _number_problem(value: int | float | str | None, *, integer: bool) -> str | None:
    if isinstance(value, str):
        return f"must be a number, got text {value!r}{_text_number_hint(value)}"
    if integer and isinstance(value, float):
        return f"must be an integer, got {format_value(value)}"
    return None


def _text_number_hint(text: str) -> str:
    # YAML 1.1 (PyYAML) reads 1e-5 as a string; only 1.0e-5 is a float.
    if re.fullmatch(r"[+-]?[0-9]+[eE][+-]?[0-9]+", text):
        return " (YAML reads 1e-5 as text: write 1.0e-5)"
    return " (remove the quotes)" if _FLOAT_TEXT.fullmatch(text) else ""


def _categorical_problems(spec: Declared) -> list[tuple[str, str]]:
    choices = spec.choices
    if not choices:
        return [("values", "categorical hyperparameters need a non-empty list of values")]
    problems: list[tuple[str, str]] = []
    dupes = sorted({c for c in choices if choices.count(c) > 1})
    if dupes:
        problems.append(("values", f"duplicate values: {', '.join(dupes)}"))
    if spec.default is not None and format_value(spec.default) not in choices:
        shown = format_value(spec.default)
        problems.append(("default", f"{shown!r} is not one of: {', '.join(choices)}"))
    return problems


def validate_hyperparameters(
    declared: Mapping[str, Declared], given: Mapping[str, object]
) -> dict[str, str]:
    """Check `given` against a manifest's declarations, apply defaults, return the string map
    sorted by key.

    A null value counts as not given. Raise `InvalidInput` listing every problem at once.
    """
    problems: list[dict[str, str]] = []
    result: dict[str, str] = {}
    for key, value in given.items():
        loc = _loc(key)
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
            problems.append({"loc": loc, "msg": f"key must be text of at most {MAX_KEY_LENGTH}"})
            continue
        if value is None:
            continue
        try:
            result[key] = _value_for(declared, key, value)
        except ValueError as exc:
            problems.append({"loc": loc, "msg": str(exc)})
    failed = {p["loc"] for p in problems}
    for key, spec in declared.items():
        if key in result or _loc(key) in failed:
            continue
        if spec.default is not None:
            result[key] = format_value(spec.default)
        elif spec.required:
            problems.append({"loc": _loc(key), "msg": "is required"})
    if len(result) > MAX_HYPERPARAMETERS:
        msg = f"at most {MAX_HYPERPARAMETERS} hyperparameters, got {len(result)}"
        problems.append({"loc": "hyperparameters", "msg": msg})
    if problems:
        raise InvalidInput.fields(problems)
    return dict(sorted(result.items()))


def _loc(key: object) -> str:
    text = key if isinstance(key, str) else repr(key)
    return f"hyperparameters.{text[:64]}{'…' if len(text) > 64 else ''}"


def _value_for(declared: Mapping[str, Declared], key: str, value: object) -> str:
    if is_toolkit_key(key):
        raise ValueError("reserved for the training toolkit; jobs cannot set it")
    spec = declared.get(key)
    if spec is None:
        known = ", ".join(sorted(declared)[:20]) or "none"
        raise ValueError(f"unknown hyperparameter (this algorithm takes: {known})")
    if not isinstance(value, str | int | float):
        raise ValueError(f"must be text or a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    text = _coerce(spec, value)
    if len(text) > MAX_VALUE_LENGTH:
        raise ValueError(f"is longer than {MAX_VALUE_LENGTH} characters")
    if "\0" in text:  # argv cannot carry a NUL: the launcher would fail, not the algorithm
        raise ValueError("contains a NUL character")
    return text


def _coerce(spec: Declared, value: str | int | float) -> str:
    if spec.type is HyperparameterType.FREE_TEXT:
        return format_value(value)
    if spec.type is HyperparameterType.CATEGORICAL:
        text = format_value(value)
        if text not in spec.choices:
            raise ValueError(f"{text!r} is not one of: {', '.join(spec.choices[:20])}")
        return text
    number = _number(value, integer=spec.type is HyperparameterType.INTEGER)
    problem = range_problem(number, spec.min, spec.max)
    if problem:
        raise ValueError(problem)
    # Text that parsed is kept exactly as given, as SageMaker stores the client's string.
    return value if isinstance(value, str) else format_value(value)


def _number(value: str | int | float, *, integer: bool) -> int | float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or (integer and isinstance(value, float)):
        raise ValueError(f"must be {kind}, got {format_value(value)}")
    if not isinstance(value, str):
        return value
    if len(value) > MAX_VALUE_LENGTH or not (_INT_TEXT if integer else _FLOAT_TEXT).fullmatch(
        value
    ):
        raise ValueError(f"must be {kind}, got {value[:64]!r}")
    number = int(value) if integer else float(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number
