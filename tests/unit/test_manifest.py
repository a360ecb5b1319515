"""forgeml.yaml parsing: the happy path, the algorithm card, and every way a manifest can be wrong."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
import yaml

from forgeml.domain.algorithms import (
    EntryKind,
    EntryPoint,
    HyperparameterType,
    parse_entry_point,
    parse_manifest,
)
from forgeml.domain.errors import InvalidInput

DESIGN_EXAMPLE = """\
name: digits-classifier            # [a-z0-9-]+
version: 1.0.0
description: Small CNN for 8x8 digit images
entry_point: train.py
requirements: requirements.txt
environment:
  SEED_MODE: {choices: [fixed, random]}
hyperparameters:
  epochs:    {type: integer, default: 10, min: 1, max: 500, tunable: true}
  lr:        {type: continuous, default: 0.01, min: 1.0e-5, max: 1.0, scale: log}
  optimizer: {type: categorical, values: [sgd, adam], default: adam}
  note:      {type: free-text, required: false}
channels:
  train:      {required: true, description: training images, content_types: [text/csv]}
  validation: {required: false}
metrics:
  - {name: "train:loss",          regex: "loss=([0-9.eE+-]+)"}
  - {name: "validation:accuracy", regex: "val_acc=([0-9.eE+-]+)"}
resource_classes: [cpu.small, cpu.large, gpu.1]
distributed: true
network: false
"""


def manifest(**overrides: Any) -> str:
    """A minimal valid manifest as YAML, with top-level fields replaced (None removes one)."""
    data: dict[str, Any] = {"name": "algo", "version": "1.0.0", "entry_point": "train.py"}
    data.update(overrides)
    return yaml.safe_dump({k: v for k, v in data.items() if v is not None})


def problems(text: str | bytes) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_manifest(text)
    found = info.value.details["errors"]
    return {p["loc"]: p["msg"] for p in found}


def hp(**spec: Any) -> str:
    return manifest(hyperparameters={"x": spec})


def test_design_example_parses() -> None:
    m = parse_manifest(DESIGN_EXAMPLE)
    assert m.name == "digits-classifier"
    assert m.entry == EntryPoint(EntryKind.SCRIPT, "train.py")
    assert m.hyperparameters["lr"].type is HyperparameterType.CONTINUOUS
    assert m.hyperparameters["optimizer"].choices == ("sgd", "adam")
    assert m.channels["validation"].input_mode == "File"
    assert [x.name for x in m.metrics] == ["train:loss", "validation:accuracy"]
    assert m.distributed is True
    assert m.network is False


def test_card_shows_use_never_code() -> None:
    card = parse_manifest(DESIGN_EXAMPLE).card()
    assert set(card) == {
        "name", "version", "description", "hyperparameters", "channels", "metrics",
        "resource_classes", "distributed", "environment", "logs",
    }  # fmt: skip
    assert card["environment"] == {"SEED_MODE": {"description": "", "choices": ["fixed", "random"]}}
    assert card["logs"] == "full"
    assert card["metrics"] == ["train:loss", "validation:accuracy"]
    assert card["hyperparameters"]["lr"] == {
        "type": "continuous", "description": "", "default": 0.01, "min": 1e-05, "max": 1.0,
        "scale": "log", "required": False, "tunable": False,
    }  # fmt: skip
    text = repr(card)
    for secret in ("train.py", "requirements", "entry_point", "regex", "loss=("):
        assert secret not in text


def test_bytes_with_bom_and_null_sections() -> None:
    text = "\ufeff" + manifest() + "channels:\n  train:\nhyperparameters:\n"
    m = parse_manifest(text.encode())
    assert m.hyperparameters == {}
    assert m.channels["train"].required is False


def test_manifest_is_frozen() -> None:
    m = parse_manifest(manifest())
    with pytest.raises(pydantic.ValidationError):
        m.name = "other"


def test_every_problem_is_reported_at_once() -> None:
    text = manifest(
        name="Bad_Name",
        version=1.0,
        entry_point="../train.py",
        hyperparameters={
            "lr": {"type": "continuous", "default": 2.0, "max": 1.0},
            "k": {"type": "float"},
        },
        metrics=[{"name": "m", "regex": "no group"}],
        colour="blue",
    )
    found = problems(text)
    assert found == {
        "name": "use lower-case letters, digits and '-', starting with a letter or digit",
        "version": "must be text like 1.0.0 (quote it in YAML), got 1.0",
        "entry_point": "'../train.py' leaves the bundle ('..')",
        "hyperparameters.lr.default": "2.0 is above max 1.0",
        "hyperparameters.k.type": "Input should be 'integer', 'continuous', 'categorical' or "
        "'free-text', got 'float'",
        "metrics.0.regex": "needs at least one group, e.g. loss=([0-9.eE+-]+)",
        "colour": "unknown field",
    }


def test_message_lists_paths() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_manifest(hp(type="integer", default=0, min=1))
    assert info.value.message == "hyperparameters.x.default: 0 is below min 1"
    assert info.value.code == "invalid_input"


@pytest.mark.parametrize(
    ("spec", "loc", "msg"),
    [
        ({"type": "integer", "default": 600, "max": 500}, "default", "600 is above max 500"),
        ({"type": "integer", "min": 5, "max": 1}, "min", "5 is above max 1"),
        ({"type": "integer", "min": 0.5}, "min", "must be an integer, got 0.5"),
        ({"type": "continuous", "min": "1e-5"}, "min", "must be a number, got text '1e-5' "
         "(YAML reads 1e-5 as text: write 1.0e-5)"),
        ({"type": "continuous", "max": "10"}, "max", "must be a number, got text '10' "
         "(remove the quotes)"),
        ({"type": "continuous", "min": 0.0, "scale": "log"}, "scale", "log scale needs min > 0"),
        ({"type": "continuous", "scale": "log"}, "scale", "log scale needs min > 0"),
        ({"type": "continuous", "scale": "cubic"}, "scale",
         "Input should be 'linear', 'log' or 'auto', got 'cubic'"),
        ({"type": "continuous", "default": float("nan")}, "default", "must be a finite number"),
        ({"type": "integer", "default": True}, "default",
         "must be a number or text, not true/false (quote it to mean the text)"),
        ({"type": "integer", "values": [1, 2]}, "values", "not allowed for integer hyperparameters"),
        ({"type": "categorical"}, "values",
         "categorical hyperparameters need a non-empty list of values"),
        ({"type": "categorical", "values": ["a", "b"], "default": "c"}, "default",
         "'c' is not one of: a, b"),
        ({"type": "categorical", "values": ["a", "a"]}, "values", "duplicate values: a"),
        ({"type": "categorical", "values": ["a"], "min": 1}, "min",
         "not allowed for categorical hyperparameters"),
        ({"type": "free-text", "tunable": True}, "tunable",
         "free-text hyperparameters cannot be tuned"),
        ({"type": "free-text", "default": "x" * 2501}, "default", "is longer than 2500 characters"),
        ({"type": "integer", "required": True, "default": 1}, "default",
         "a required hyperparameter cannot have a default"),
        ({"type": "integer", "required": "yes"}, "required", "Input should be a valid boolean"),
        ({"type": "integer", "step": 2}, "step", "unknown field"),
        ({"default": 1}, "type", "is required"),
    ],
)  # fmt: skip
def test_hyperparameter_declaration_problems(spec: dict[str, Any], loc: str, msg: str) -> None:
    assert problems(hp(**spec)) == {f"hyperparameters.x.{loc}": msg}


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "integer", "default": 1, "min": 1, "max": 1, "scale": "auto", "tunable": True},
        {"type": "continuous", "default": 1, "min": 1.0e-5, "max": 10, "scale": "log"},
        {"type": "categorical", "values": [0.1, 2, "x"], "default": 2},
        {"type": "free-text", "default": 42, "description": "anything"},
        {"type": "integer", "required": True},
    ],
)
def test_hyperparameter_declarations_accepted(spec: dict[str, Any]) -> None:
    declared = parse_manifest(hp(**spec)).hyperparameters["x"]
    assert declared.model_dump(mode="json", exclude_defaults=True) == spec  # kept as written


def test_categorical_values_are_strings_on_the_card() -> None:
    m = parse_manifest(hp(type="categorical", values=[0.1, 2, "x"], default=2))
    assert m.hyperparameters["x"].choices == ("0.1", "2", "x")
    assert m.card()["hyperparameters"]["x"]["values"] == ["0.1", "2", "x"]


@pytest.mark.parametrize(
    ("overrides", "loc", "msg_part"),
    [
        ({"name": "a" * 64}, "name", "at most 63 characters"),
        ({"name": "-algo"}, "name", "starting with a letter or digit"),
        ({"name": None}, "name", "is required"),
        ({"version": "1.0"}, "version", "'1.0' is not a version like 1.2.3"),
        ({"version": "01.0.0"}, "version", "is not a version"),
        ({"version": "1.0.0\n"}, "version", "is not a version"),
        ({"version": "1.0.0-rc.1+build"}, "version", "is not a version"),
        ({"entry_point": "/abs/train.py"}, "entry_point", "is absolute"),
        ({"entry_point": "-x"}, "entry_point", "'-m package.module'"),
        ({"entry_point": "-m 9lives"}, "entry_point", "is not a dotted module name"),
        ({"entry_point": "src//train.py"}, "entry_point", "is not a normalised path"),
        ({"entry_point": None}, "entry_point", "is required"),
        ({"requirements": "../req.txt"}, "requirements", "leaves the bundle"),
        ({"hyperparameters": {"sagemaker_program": {"type": "free-text"}}}, "hyperparameters",
         "reserved"),
        ({"hyperparameters": {"bad key": {"type": "free-text"}}}, "hyperparameters.bad key.[key]",
         "should match pattern"),
        ({"hyperparameters": {f"h{i}": {"type": "free-text"} for i in range(101)}},
         "hyperparameters", "at most 100 items"),
        ({"channels": {"train": {"input_mode": "Pipe"}}}, "channels.train.input_mode",
         "Input should be 'File'"),
        ({"channels": {"train": {"content_types": ["csv"]}}}, "channels.train.content_types.0",
         "should match pattern"),
        ({"metrics": [{"name": "a", "regex": "("}]}, "metrics.0.regex",
         "not a valid regular expression"),
        ({"metrics": [{"name": "a", "regex": "(x)"}, {"name": "a", "regex": "(y)"}]}, "metrics", "duplicate metric names: a"),
        ({"metrics": [{"name": f"m{i}", "regex": "(x)"} for i in range(41)]}, "metrics",
         "at most 40 items"),
        ({"resource_classes": ["gpu.1", "gpu.1"]}, "resource_classes", "duplicate"),
        ({"distributed": "yes"}, "distributed", "valid boolean"),
        ({"channels": {"a.b": {}}}, "channels.a.b.[key]", "should match pattern"),
        ({"channels": {"..": {}}}, "channels....[key]", "should match pattern"),
        ({"environment": {"LD_PRELOAD": {}}}, "environment.LD_PRELOAD.[key]", "reserved by the platform"),
        ({"environment": {"PYTHONPATH": {}}}, "environment.PYTHONPATH.[key]", "reserved by the platform"),
        ({"environment": {"SM_MODEL_DIR": {}}}, "environment.SM_MODEL_DIR.[key]", "reserved by the platform"),
        ({"environment": {"SSL_CERT_FILE": {}}}, "environment.SSL_CERT_FILE.[key]", "reserved by the platform"),
        ({"environment": {"PIP_INDEX_URL": {}}}, "environment.PIP_INDEX_URL.[key]", "reserved by the platform"),
        ({"environment": {"A=B": {}}}, "environment.A=B.[key]", "must match [A-Za-z_]"),
        ({"environment": {"X": {"pattern": "("}}}, "environment.X", "not a valid regular"),
        ({"environment": {"X": {"choices": ["a"], "default": "b"}}}, "environment.X",
         "'b' is not one of: a"),
        ({"environment": {"X": {"choices": ["a"], "pattern": "a"}}}, "environment.X",
         "not both"),
        ({"environment": {"X": {"default": 3}}}, "environment.X.default", "valid string"),
        ({"environment": {"X": {"shell": "yes"}}}, "environment.X.shell", "unknown field"),
        ({"logs": "none"}, "logs", "'full' or 'redacted'"),
    ],
)  # fmt: skip
def test_top_level_problems(overrides: dict[str, Any], loc: str, msg_part: str) -> None:
    found = problems(manifest(**overrides))
    assert list(found) == [loc]
    assert msg_part in found[loc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("train.py", EntryPoint(EntryKind.SCRIPT, "train.py")),
        ("src/train.py", EntryPoint(EntryKind.SCRIPT, "src/train.py")),
        ("-m pkg.train", EntryPoint(EntryKind.MODULE, "pkg.train")),
        ("-m  pkg", EntryPoint(EntryKind.MODULE, "pkg")),
        ("-m pkg.train_v2", EntryPoint(EntryKind.MODULE, "pkg.train_v2")),
        ("bin/train", EntryPoint(EntryKind.EXECUTABLE, "bin/train")),
        ("run.sh", EntryPoint(EntryKind.EXECUTABLE, "run.sh")),
    ],
)
def test_entry_point_syntax(raw: str, expected: EntryPoint) -> None:
    assert parse_entry_point(raw) == expected


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("name: x\n  bad: [\n", "invalid YAML at line 2, column 6: mapping values are not allowed"),
        ("a: [1, 2\n", "invalid YAML at line 2"),
        ("- a\n- b\n", "must be a mapping of fields, got a list"),
        ("just text\n", "must be a mapping of fields, got a str"),
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("a: &x [1]\nb: *x\n", "line 2, column 4: aliases (*name) are not allowed"),
        ("a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate key 'a'"),
        ("a: !!python/object:os.system {}\n", "invalid YAML at line 1"),
        ("a: 1\n---\nb: 2\n", "expected a single document in the stream, but found another"),
        ("x: " + "y" * (64 * 1024), "is larger than 64 KiB"),
    ],
)
def test_bad_yaml(text: str, msg: str) -> None:
    found = problems(text)
    assert list(found) == ["forgeml.yaml"]
    assert msg in found["forgeml.yaml"]


def test_not_utf8() -> None:
    assert problems(b"name: \xff\xfe\n") == {
        "forgeml.yaml": "is not UTF-8 text (bad byte at offset 6)"
    }


def test_size_limit_counts_bytes_not_characters() -> None:
    text = "description: " + "é" * 33_000 + "\n"  # under 64 Ki characters, over 64 KiB
    assert problems(text) == {"forgeml.yaml": "is larger than 64 KiB"}
