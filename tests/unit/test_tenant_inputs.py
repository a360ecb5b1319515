"""Tenant inputs the launcher reads: channel names and the algorithm-declared environment."""

from __future__ import annotations

import pytest

from forgeml.domain.tenant_inputs import (
    EnvironmentSpec,
    channel_name_problem,
    environment_values,
)

DECLARED = {
    "MODE": EnvironmentSpec(description="how", choices=("fast", "slow"), default="fast"),
    "TAG": EnvironmentSpec(pattern=r"[a-z]{1,8}"),
    "FREE": EnvironmentSpec(),
}


@pytest.mark.parametrize("name", ["train", "a-b_c", "X1", "9" * 64])
def test_channel_names_accepted(name: str) -> None:
    assert channel_name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["..", ".", "../model", "a/b", "a b", "x" * 65, "", "a.b", "-a", "_a", "é"]
)
def test_channel_names_refused(name: str) -> None:
    assert channel_name_problem(name) is not None


def test_declared_values_and_defaults() -> None:
    env, problems = environment_values(DECLARED, {"TAG": "abc", "FREE": "any thing/ok"})
    assert problems == []
    assert env == {"FREE": "any thing/ok", "MODE": "fast", "TAG": "abc"}


def test_every_undeclared_name_is_refused_by_name() -> None:
    given = {"LD_PRELOAD": "/x.so", "SSL_CERT_FILE": "/c", "LOCPATH": "/l", "MY_FLAG": "1"}
    env, problems = environment_values(DECLARED, given)
    assert env == {"MODE": "fast"}
    assert {p["loc"] for p in problems} == {f"environment.{n}" for n in given}
    flag = next(p["msg"] for p in problems if p["loc"] == "environment.MY_FLAG")
    assert flag == "MY_FLAG is not declared by this algorithm (it declares: FREE, MODE, TAG)"
    assert all(("LD_PRELOAD" in p["msg"]) for p in problems if "LD_PRELOAD" in p["loc"])


@pytest.mark.parametrize(
    ("name", "value", "part"),
    [
        ("MODE", "medium", "is not one of: fast, slow"),
        ("TAG", "ABC", "does not match"),
        ("TAG", "abcdefghi", "does not match"),
        ("FREE", "a\0b", "NUL or control character"),
        ("FREE", "a\nb", "NUL or control character"),
        ("FREE", "x" * 4097, "longer than 4096"),
    ],
)
def test_declared_values_are_validated(name: str, value: str, part: str) -> None:
    _, problems = environment_values(DECLARED, {name: value})
    assert [p["loc"] for p in problems] == [f"environment.{name}"]
    assert part in problems[0]["msg"]


def test_nothing_declared_means_nothing_settable() -> None:
    env, problems = environment_values({}, {"A": "1"})
    assert env == {} and problems[0]["msg"].endswith("(it declares: none)")
