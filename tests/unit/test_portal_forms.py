"""Portal form helpers: the Train form generated from a card, error placement, safe redirects."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from forgeml.web.auth_pages import safe_next
from forgeml.web.trainform import (
    channel_errors,
    hyperparameter_fields,
    map_errors,
    posted_channels,
    posted_hyperparameters,
)

CARD = {
    "hyperparameters": {
        "epochs": {"type": "integer", "default": 10, "min": 1, "max": 500},
        "lr": {"type": "continuous", "default": 0.01, "min": 1e-05, "max": 1.0},
        "optimizer": {"type": "categorical", "values": ["sgd", "adam"], "default": "adam"},
        "note": {"type": "free-text", "required": True},
    },
    "channels": {"train": {"required": True}, "validation": {"required": False}},
}


def test_fields_are_typed_with_ranges_defaults_and_choices() -> None:
    f = {x.key: x for x in hyperparameter_fields(CARD)}
    assert f["epochs"].attrs == {
        "type": "number", "step": "1", "inputmode": "numeric", "min": "1", "max": "500",
    }  # fmt: skip
    assert f["epochs"].default == "10" and not f["epochs"].required
    assert f["lr"].attrs["step"] == "any" and f["lr"].attrs["min"] == "1e-05"
    assert f["optimizer"].options == ("sgd", "adam") and f["optimizer"].name == "hp.optimizer"
    assert f["note"].required and f["note"].attrs["type"] == "text"
    assert "1 to 500" in f["epochs"].hint and "default 10" in f["epochs"].hint


def test_posted_values_skip_empty_ones_and_parse_channel_versions() -> None:
    form = FormData(
        [("hp.epochs", "5"), ("hp.lr", " "), ("ch.train", "dst_1@3"), ("ch.validation", ""),
         ("ch.extra", "dst_2"), ("name", "x")]
    )  # fmt: skip
    assert posted_hyperparameters(form) == {"epochs": "5"}
    channels = posted_channels(form)
    assert channels == {"train": ("dst_1", 3), "extra": ("dst_2", None)}
    assert channel_errors(CARD, {}) == {"ch.train": "choose a dataset for this required channel"}
    assert channel_errors(CARD, channels) == {}


def test_service_problems_land_next_to_the_right_fields() -> None:
    problems = [
        {"loc": "hyperparameters.epochs", "msg": "must be at most 500"},
        {"loc": "input_data.train", "msg": "dataset not found"},
        {"loc": "resources.resource_class", "msg": "unknown"},
        {"loc": "stopping_condition.max_runtime_s", "msg": "too long"},
        {"loc": "name", "msg": "taken"},
    ]
    assert map_errors(problems) == {
        "hp.epochs": "must be at most 500",
        "ch.train": "dataset not found",
        "resource_class": "unknown",
        "max_runtime_min": "too long",
        "name": "taken",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/jobs/job_1", "/jobs/job_1"),
        ("//evil.example.com", "/"),
        ("/\\evil.example.com", "/"),
        ("https://evil.example.com", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_sign_in_redirects_stay_on_the_site(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_a_channel_hint_says_the_description_and_content_types_once() -> None:
    from forgeml.cli.algorithms import channel_lines
    from forgeml.domain.algorithms import channel_hint

    card = {
        "channels": {
            "train": {
                "required": True,
                "description": "rows: x, label",
                "content_types": ["text/csv"],
            },
            "extra": {"content_types": ["text/csv"]},
            "any": {},
        }
    }
    assert channel_hint(card["channels"]["train"]) == "rows: x, label (text/csv)"
    assert channel_hint(card["channels"]["extra"]) == "text/csv"
    assert channel_hint(card["channels"]["any"]) == "any files"
    assert (
        channel_lines(card) == "train*: rows: x, label (text/csv); extra: text/csv; any: any files"
    )
    assert channel_lines({}) == "none"
