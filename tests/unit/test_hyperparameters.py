"""Job hyperparameters checked against a manifest: coercion to SageMaker's string map, and errors."""

from __future__ import annotations

from typing import Any

import pytest

from forgeml.domain.algorithms import AlgorithmManifest, parse_manifest
from forgeml.domain.errors import InvalidInput
from forgeml.domain.hyperparameters import format_value, validate_hyperparameters

MANIFEST = parse_manifest(
    """
name: algo
version: 1.0.0
entry_point: train.py
hyperparameters:
  epochs:    {type: integer, default: 10, min: 1, max: 500}
  batch:     {type: integer}
  lr:        {type: continuous, default: 0.01, min: 1.0e-5, max: 1.0, scale: log}
  momentum:  {type: continuous}
  optimizer: {type: categorical, values: [sgd, adam], default: adam}
  layers:    {type: categorical, values: [1, 2, 4]}
  flag:      {type: categorical, values: ["true", "false"]}
  note:      {type: free-text}
  dataset:   {type: free-text, required: true}
"""
)
DEFAULTS = {"epochs": "10", "lr": "0.01", "optimizer": "adam"}


def check(given: dict[str, Any], manifest: AlgorithmManifest = MANIFEST) -> dict[str, str]:
    return validate_hyperparameters(manifest.hyperparameters, {"dataset": "d", **given})


def problems(given: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        check(given)
    return {p["loc"]: p["msg"] for p in info.value.details["errors"]}


def test_defaults_applied_and_sorted() -> None:
    result = check({})
    assert result == {**DEFAULTS, "dataset": "d"}
    assert list(result) == sorted(result)


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("epochs", 20, "20"),
        ("epochs", "20", "20"),
        ("epochs", "+20", "+20"),  # valid text is kept exactly as given, like SageMaker does
        ("epochs", 500, "500"),
        ("batch", -3, "-3"),
        ("batch", 10**30, str(10**30)),
        ("lr", 0.1, "0.1"),
        ("lr", 1, "1"),
        ("lr", "1e-3", "1e-3"),
        ("lr", ".5", ".5"),
        ("lr", 1e-5, "1e-05"),
        ("momentum", 0.1 + 0.2, "0.30000000000000004"),
        ("momentum", 1e16, "1e+16"),
        ("momentum", "-2.5E+3", "-2.5E+3"),
        ("optimizer", "sgd", "sgd"),
        ("layers", 2, "2"),
        ("layers", "4", "4"),
        ("flag", True, "true"),
        ("note", "free text, any: thing", "free text, any: thing"),
        ("note", 3.5, "3.5"),
        ("note", "", ""),
    ],
)
def test_accepted_values(key: str, value: object, stored: str) -> None:
    assert check({key: value})[key] == stored


@pytest.mark.parametrize(
    ("key", "value", "msg"),
    [
        ("epochs", True, "must be an integer, got true"),
        ("epochs", 2.0, "must be an integer, got 2.0"),
        ("epochs", "2.0", "must be an integer, got '2.0'"),
        ("epochs", " 2", "must be an integer, got ' 2'"),
        ("epochs", "1_000", "must be an integer, got '1_000'"),
        ("epochs", 0, "0 is below min 1"),
        ("epochs", "501", "501 is above max 500"),
        ("lr", 2.0, "2.0 is above max 1.0"),
        ("lr", "0", "0.0 is below min 1e-05"),
        ("lr", "abc", "must be a number, got 'abc'"),
        ("lr", "nan", "must be a number, got 'nan'"),
        ("lr", "1e999", "must be a finite number"),
        ("lr", float("inf"), "must be a finite number"),
        ("lr", False, "must be a number, got false"),
        ("optimizer", "rmsprop", "'rmsprop' is not one of: sgd, adam"),
        ("optimizer", "ADAM", "'ADAM' is not one of: sgd, adam"),
        ("layers", 3, "'3' is not one of: 1, 2, 4"),
        ("note", [1, 2], "must be text or a number, got list"),
        ("note", {"a": 1}, "must be text or a number, got dict"),
        ("note", "x" * 2501, "is longer than 2500 characters"),
        ("note", "a\0b", "contains a NUL character"),
        ("sagemaker_program", "evil.py", "reserved for the training toolkit; jobs cannot set it"),
        ("sagemaker_submit_directory", "/opt/ml/input/data/train/x.tar.gz",
         "reserved for the training toolkit; jobs cannot set it"),
        ("sagemaker_container_log_level", "abc",
         "reserved for the training toolkit; jobs cannot set it"),
        ("_tuning_objective_metric", "loss",
         "reserved for the training toolkit; jobs cannot set it"),
        ("epoch", 3, "unknown hyperparameter (this algorithm takes: batch, dataset, epochs, "
         "flag, layers, lr, momentum, note, optimizer)"),
    ],
)  # fmt: skip
def test_rejected_values(key: str, value: object, msg: str) -> None:
    assert problems({key: value}) == {f"hyperparameters.{key}": msg}


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_hyperparameters(MANIFEST.hyperparameters, {"epochs": 0, "lr": "x", "nope": 1})
    assert [p["loc"] for p in info.value.details["errors"]] == [
        "hyperparameters.epochs",
        "hyperparameters.lr",
        "hyperparameters.nope",
        "hyperparameters.dataset",
    ]
    assert info.value.details["errors"][-1]["msg"] == "is required"


def test_null_counts_as_not_given() -> None:
    assert check({"epochs": None, "note": None}) == {**DEFAULTS, "dataset": "d"}
    assert problems({"dataset": None}) == {"hyperparameters.dataset": "is required"}


def test_failed_value_does_not_also_get_default() -> None:
    assert problems({"epochs": 0}) == {"hyperparameters.epochs": "0 is below min 1"}


def test_key_limits() -> None:
    long_key = "k" * 257
    found = problems({long_key: "v"})
    assert found == {f"hyperparameters.{long_key[:64]}…": "key must be text of at most 256"}


def test_manifest_cannot_declare_toolkit_keys() -> None:
    for key in ("sagemaker_program", "_tuning_objective_metric"):
        text = f"name: a\nversion: 1.0.0\nentry_point: t.py\nhyperparameters:\n  {key}: {{type: free-text}}\n"
        with pytest.raises(InvalidInput, match="reserved for the training toolkit"):
            parse_manifest(text)


def test_no_hyperparameters_declared() -> None:
    bare = parse_manifest("name: a\nversion: 1.0.0\nentry_point: t.py\n")
    assert validate_hyperparameters(bare.hyperparameters, {}) == {}
    with pytest.raises(InvalidInput, match="this algorithm takes: none"):
        validate_hyperparameters(bare.hyperparameters, {"x": 1})


@pytest.mark.parametrize(
    ("value", "text"),
    [(10, "10"), (0.01, "0.01"), (1e-05, "1e-05"), (2.0, "2.0"), (True, "true"), ("s", "s")],
)
def test_format_value(value: int | float | str, text: str) -> None:
    assert format_value(value) == text
