"""The "Train" form generated from an algorithm card: typed fields, and parsing the posted form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

HP_PREFIX = "hp."
CH_PREFIX = "ch."
# job-spec problem locations (jobs service) → the form's field names
_FIELD_OF = {
    "resources.instance_count": "instance_count",
    "resources.resource_class": "resource_class",
    "stopping_condition.max_runtime_s": "max_runtime_min",
    "input_data": "channels",
    "algorithm": "version_id",
    "checkpoint_config.location": "checkpoint_location",
    "checkpoint_config.local_path": "checkpoint_path",
}


@dataclass(frozen=True)
class Field:
    """One hyperparameter input: HTML type and constraint attributes derived from its spec."""

    key: str
    kind: str  # integer | continuous | categorical | free-text
    label: str
    description: str
    required: bool
    default: str
    attrs: dict[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return HP_PREFIX + self.key

    @property
    def hint(self) -> str:
        parts = [self.description] if self.description else []
        lo, hi = self.attrs.get("min"), self.attrs.get("max")
        if lo is not None and hi is not None:
            parts.append(f"{lo} to {hi}")
        elif lo is not None:
            parts.append(f"at least {lo}")
        elif hi is not None:
            parts.append(f"at most {hi}")
        if self.default:
            parts.append(f"default {self.default}")
        return " · ".join(parts)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def hyperparameter_fields(card: dict[str, Any]) -> list[Field]:
    fields = []
    for key, spec in (card.get("hyperparameters") or {}).items():
        kind = str(spec.get("type", "free-text"))
        attrs: dict[str, str] = {}
        if kind == "integer":
            attrs = {"type": "number", "step": "1", "inputmode": "numeric"}
        elif kind == "continuous":
            attrs = {"type": "number", "step": "any", "inputmode": "decimal"}
        if kind in ("integer", "continuous"):
            for bound in ("min", "max"):
                if spec.get(bound) is not None:
                    attrs[bound] = _text(spec[bound])
        if kind == "free-text":
            attrs = {"type": "text", "maxlength": "2048"}
        fields.append(
            Field(
                key=str(key),
                kind=kind,
                label=str(key),
                description=str(spec.get("description", "")),
                required=bool(spec.get("required")) and spec.get("default") is None,
                default=_text(spec.get("default")),
                attrs=attrs,
                options=tuple(_text(v) for v in spec.get("values") or ()),
            )
        )
    return fields


def posted_hyperparameters(form: FormData) -> dict[str, str]:
    """The non-empty `hp.<key>` values (empty means "use the default")."""
    out = {}
    for name, value in form.multi_items():
        if name.startswith(HP_PREFIX) and isinstance(value, str) and value.strip():
            out[name[len(HP_PREFIX) :]] = value.strip()
    return out


def posted_channels(form: FormData) -> dict[str, tuple[str, int | None]]:
    """`ch.<channel>` = `<dataset id>` or `<dataset id>@<version>`; empty means not used."""
    out: dict[str, tuple[str, int | None]] = {}
    for name, value in form.multi_items():
        if not name.startswith(CH_PREFIX) or not isinstance(value, str) or not value.strip():
            continue
        ref, _, version = value.strip().partition("@")
        out[name[len(CH_PREFIX) :]] = (ref, int(version) if version.isdigit() else None)
    return out


def channel_errors(card: dict[str, Any], chosen: dict[str, Any]) -> dict[str, str]:
    return {
        CH_PREFIX + name: "choose a dataset for this required channel"
        for name, spec in (card.get("channels") or {}).items()
        if spec.get("required") and name not in chosen
    }


def map_errors(problems: list[dict[str, Any]]) -> dict[str, str]:
    """Service problem locations → form field names (`hyperparameters.lr` → `hp.lr`)."""
    out: dict[str, str] = {}
    for p in problems:
        loc = str(p.get("loc", ""))
        msg = str(p.get("msg", "invalid"))
        if loc.startswith("hyperparameters."):
            name = HP_PREFIX + loc.split(".", 1)[1]
        elif loc.startswith(("channels.", "input_data.")):
            name = CH_PREFIX + loc.split(".")[1]
        else:
            name = _FIELD_OF.get(loc, loc.split(".")[0])
        out.setdefault(name, msg)
    return out
