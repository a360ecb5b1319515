"""Algorithm manifests (`forgeml.yaml`): the typed, immutable model and its parser.

Modelled on SageMaker's TrainingSpecification; `parse_manifest` reports every problem at once.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from forgeml.domain import metric_patterns
from forgeml.domain.errors import InvalidInput
from forgeml.domain.hyperparameters import (
    MAX_HYPERPARAMETERS,
    MAX_KEY_LENGTH,
    declaration_problems,
    format_value,
    is_toolkit_key,
)
from forgeml.domain.hyperparameters import HyperparameterType as HyperparameterType  # re-export
from forgeml.domain.manifest_yaml import MANIFEST_NAME as MANIFEST_NAME  # re-export
from forgeml.domain.manifest_yaml import MAX_MANIFEST_BYTES as MAX_MANIFEST_BYTES  # re-export
from forgeml.domain.manifest_yaml import load_yaml
from forgeml.domain.tenant_inputs import (
    CHANNEL_NAME_RE,
    MAX_ENV,
    DeclaredEnvName,
    EnvironmentSpec,
)

MAX_METRICS = 40  # SageMaker: at most 40 metric definitions
MAX_CHANNELS = 20  # SageMaker: at most 20 input channels

_PROBLEMS = "forgeml_problems"
_VERSION_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)
_MODULE_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)
_CONFIG = ConfigDict(extra="forbid", frozen=True)

# Keys become `--key` arguments and `SM_HP_<KEY>` variables, so keep them shell- and env-safe.
HyperparameterKey = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=MAX_KEY_LENGTH)
]
ChannelName = Annotated[str, StringConstraints(pattern=f"^{CHANNEL_NAME_RE.pattern}$")]
ResourceClassName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
ContentType = Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+*-]+$", max_length=256)]
# An executable's interpreter: python names mean the algorithm environment's python.
InterpreterName = Annotated[
    str, StringConstraints(pattern=r"^(python(3(\.[0-9]{1,2})?)?|sh|bash)$")
]


def _scalar(value: object) -> int | float | str:
    """Accept YAML numbers and text; refuse booleans, nulls, lists and non-finite floats."""
    if isinstance(value, bool):
        raise ValueError("must be a number or text, not true/false (quote it to mean the text)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if not isinstance(value, int | float | str):
        raise ValueError(f"must be a number or text, got {type(value).__name__}")
    return value


Scalar = Annotated[int | float | str, PlainValidator(_scalar)]


class EntryKind(StrEnum):
    """How the launcher starts the entry point."""

    SCRIPT = "script"  # `train.py`: python <venv> train.py
    MODULE = "module"  # `-m pkg.mod`: python -m pkg.mod (from the bundle or its requirements)
    EXECUTABLE = "executable"  # any other relative path: run directly, must be executable


class EntryPoint(NamedTuple):
    """A parsed `entry_point`."""

    kind: EntryKind
    target: str


def parse_entry_point(raw: str) -> EntryPoint:
    """Parse `train.py`, `-m pkg.mod` or `bin/train`; raise ValueError with a readable message."""
    if raw.startswith("-m "):
        module = raw[3:].strip()
        if not _MODULE_RE.fullmatch(module):
            raise ValueError(f"{module!r} is not a dotted module name like pkg.train")
        return EntryPoint(EntryKind.MODULE, module)
    if raw.startswith("-"):
        raise ValueError("give a relative file path, or '-m package.module' to run a module")
    problem = relative_path_problem(raw)
    if problem:
        raise ValueError(problem)
    return EntryPoint(EntryKind.SCRIPT if raw.endswith(".py") else EntryKind.EXECUTABLE, raw)


def relative_path_problem(path: str) -> str | None:
    """Why `path` is not a plain relative POSIX path inside a bundle, or None if it is."""
    if not path:
        return "must not be empty"
    if len(path) > 1024:
        return "is longer than 1024 characters"
    if path.startswith("/"):
        return f"{path!r} is absolute; give a path relative to the bundle root"
    if "\\" in path or any(ord(c) < 32 or ord(c) == 127 for c in path):
        return f"{path!r} contains a backslash or a control character"
    parts = path.split("/")
    if ".." in parts:
        return f"{path!r} leaves the bundle ('..')"
    if any(part in ("", ".") for part in parts):
        return f"{path!r} is not a normalised path (empty or '.' parts)"
    return None


def _problems_error(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """Carry several sub-field problems out of one validator (pydantic allows only one error)."""
    summary = "; ".join(f"{loc}: {msg}" for loc, msg in problems)
    return PydanticCustomError(_PROBLEMS, "{summary}", {"summary": summary, "problems": problems})


class HyperparameterSpec(BaseModel):
    """One declared hyperparameter; cross-field rules live in `hyperparameters.py`."""

    model_config = _CONFIG

    type: HyperparameterType
    description: Annotated[str, StringConstraints(max_length=1024)] = ""
    default: Scalar | None = None
    min: Scalar | None = None
    max: Scalar | None = None
    scale: Literal["linear", "log", "auto"] | None = None
    values: tuple[Scalar, ...] | None = None
    required: StrictBool = False
    tunable: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> HyperparameterSpec:
        problems = declaration_problems(self)
        if problems:
            raise _problems_error(problems)
        return self

    @property
    def choices(self) -> tuple[str, ...]:
        """Categorical values as the strings a job must pass (empty for other types)."""
        return tuple(format_value(v) for v in self.values or ())

    def card(self) -> dict[str, Any]:
        """What a tenant sees: the declared fields, categorical values as strings."""
        card = self.model_dump(mode="json", exclude_none=True)
        if self.values is not None:
            card["values"] = list(self.choices)
        return card


class ChannelSpec(BaseModel):
    """An input channel; `content_types` empty means any; only File mode is offered."""

    model_config = _CONFIG

    required: StrictBool = False
    description: Annotated[str, StringConstraints(max_length=1024)] = ""
    content_types: tuple[ContentType, ...] = ()
    input_mode: Literal["File"] = "File"


def channel_hint(card_channel: dict[str, Any]) -> str:
    """What a channel expects, from its card entry: the owner's description (where manifests
    name the expected columns) and the accepted content types. The Train form and
    `forgeml algorithm show` both say it this way."""
    said = str(card_channel.get("description") or "").strip()
    types = ", ".join(str(t) for t in card_channel.get("content_types") or ())
    if types:
        said = f"{said} ({types})" if said else types
    return said or "any files"


class MetricDefinition(BaseModel):
    """A log-line regex whose first group is parsed as the metric's float value."""

    model_config = _CONFIG

    name: Annotated[str, StringConstraints(min_length=1, max_length=metric_patterns.NAME_MAX)]
    regex: Annotated[str, StringConstraints(min_length=1, max_length=metric_patterns.REGEX_MAX)]

    @field_validator("regex")
    @classmethod
    def _compiles(cls, regex: str) -> str:
        metric_patterns.compile_metric(regex)  # its ValueError is the field's message
        return regex


class AlgorithmManifest(BaseModel):
    """A validated `forgeml.yaml`. Empty `resource_classes` means any class may run it."""

    model_config = _CONFIG

    name: Annotated[str, StringConstraints(max_length=63)]
    version: Annotated[str, StringConstraints(max_length=64)]
    description: Annotated[str, StringConstraints(max_length=4096)] = ""
    entry_point: Annotated[str, StringConstraints(max_length=1024)]
    # script: SageMaker script mode (hyperparameters also as --key value); container: BYOC `train`.
    mode: Literal["script", "container"] = "script"
    interpreter: InterpreterName | None = None
    requirements: str | None = None
    hyperparameters: dict[HyperparameterKey, HyperparameterSpec] = Field(
        default_factory=dict, max_length=MAX_HYPERPARAMETERS
    )
    channels: dict[ChannelName, ChannelSpec] = Field(default_factory=dict, max_length=MAX_CHANNELS)
    metrics: tuple[MetricDefinition, ...] = Field(default=(), max_length=MAX_METRICS)
    resource_classes: tuple[ResourceClassName, ...] = ()
    distributed: StrictBool = False
    network: StrictBool = False
    environment: dict[DeclaredEnvName, EnvironmentSpec] = Field(
        default_factory=dict, max_length=MAX_ENV
    )
    # What tenants see of the program's tracebacks: `redacted` hides the algorithm's source.
    logs: Literal["full", "redacted"] = "full"

    @model_validator(mode="before")
    @classmethod
    def _drop_empty_sections(cls, data: Any) -> Any:
        # `channels:` with nothing under it is YAML null; treat it (and `validation:`) as empty.
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        for section in ("channels", "environment"):
            if isinstance(data.get(section), dict):
                data[section] = {k: {} if v is None else v for k, v in data[section].items()}
        return data

    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, name: object) -> object:
        if isinstance(name, str) and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(
                "use lower-case letters, digits and '-', starting with a letter or digit"
            )
        return name

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, version: object) -> object:
        if not isinstance(version, str):
            raise ValueError(f"must be text like 1.0.0 (quote it in YAML), got {version!r}")
        if not _VERSION_RE.fullmatch(version):
            raise ValueError(f"{version!r} is not a version like 1.2.3 or 1.2.3-rc.1")
        return version

    @field_validator("entry_point")
    @classmethod
    def _check_entry_point(cls, raw: str) -> str:
        parse_entry_point(raw)
        return raw

    @model_validator(mode="after")
    def _interpreter_for_executables(self) -> AlgorithmManifest:
        if self.interpreter is not None and self.entry.kind != EntryKind.EXECUTABLE:
            raise _problems_error([("interpreter", "only for an executable entry point")])
        return self

    @field_validator("requirements")
    @classmethod
    def _check_requirements(cls, path: str) -> str:
        problem = relative_path_problem(path)
        if problem:
            raise ValueError(problem)
        return path

    @field_validator("hyperparameters")
    @classmethod
    def _no_reserved_keys(
        cls, specs: dict[str, HyperparameterSpec]
    ) -> dict[str, HyperparameterSpec]:
        reserved = sorted(k for k in specs if is_toolkit_key(k))
        if reserved:
            raise ValueError(f"reserved for the training toolkit: {', '.join(reserved)}")
        return specs

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, metrics: tuple[MetricDefinition, ...]) -> tuple[MetricDefinition, ...]:
        _refuse_duplicates([m.name for m in metrics], "metric names")
        return metrics

    @field_validator("resource_classes")
    @classmethod
    def _unique_classes(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        _refuse_duplicates(list(names), "resource classes")
        return names

    @property
    def entry(self) -> EntryPoint:
        """The parsed entry point (validated at construction)."""
        return parse_entry_point(self.entry_point)

    def card(self) -> dict[str, Any]:
        """The algorithm card: how to USE it. Never code, file names or the entry point."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "hyperparameters": {k: s.card() for k, s in self.hyperparameters.items()},
            "channels": {k: c.model_dump(mode="json") for k, c in self.channels.items()},
            "metrics": [m.name for m in self.metrics],
            "resource_classes": list(self.resource_classes),
            "distributed": self.distributed,
            "environment": {k: e.card() for k, e in self.environment.items()},
            "logs": self.logs,
        }


def _refuse_duplicates(items: list[str], what: str) -> None:
    dupes = sorted({x for x in items if items.count(x) > 1})
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")


def parse_manifest(text: str | bytes) -> AlgorithmManifest:
    """Parse and validate `forgeml.yaml`; raise `InvalidInput` listing every problem."""
    data = load_yaml(text)
    try:
        return AlgorithmManifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.fields(_problems_from(exc)) from None


def _problems_from(exc: ValidationError) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        if err["type"] == _PROBLEMS:
            for sub, msg in err["ctx"]["problems"]:
                problems.append({"loc": ".".join((*loc, sub)), "msg": msg})
        else:
            problems.append({"loc": ".".join(loc) or MANIFEST_NAME, "msg": _message(err)})
    return problems


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind in ("enum", "literal_error", "string_pattern_mismatch"):
        return f"{err['msg']}, got {err['input']!r}"
    return str(err["msg"])
