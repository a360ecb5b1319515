"""Script vs container mode and interpreters (manifest and launcher sides); ml.* instance types."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from forgeml.domain.algorithms import parse_manifest
from forgeml.domain.errors import InvalidInput
from forgeml.domain.job_model import ResourceClass, default_instance_type, instance_type_problem
from forgeml.training.program_env import is_python_name, program_argv, shebang_interpreter
from forgeml.training.spec import EntryPoint, HostSpec


def manifest(**fields: object) -> str:
    return yaml.safe_dump({"name": "a", "version": "1.0.0", "entry_point": "train", **fields})


def test_manifest_mode_and_interpreter() -> None:
    assert parse_manifest(manifest()).mode == "script"
    m = parse_manifest(manifest(mode="container", interpreter="python3.9"))
    assert (m.mode, m.interpreter) == ("container", "python3.9")


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"mode": "docker"}, "mode"),
        ({"interpreter": "/usr/bin/python3"}, "interpreter"),
        ({"interpreter": "perl"}, "interpreter"),
        ({"interpreter": "python3.9; rm -rf /"}, "interpreter"),
        ({"interpreter": "python", "entry_point": "train.py"}, "interpreter"),
    ],
)
def test_manifest_mode_and_interpreter_problems(fields: dict[str, object], loc: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_manifest(manifest(**fields))
    assert [p["loc"] for p in info.value.details["errors"]] == [loc]


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (b"#!/usr/bin/env python3.9", "python"),
        (b"#!/usr/bin/env -S python3 -u", "python"),
        (b"#!/usr/bin/python", "python"),
        (b"#! /opt/conda/bin/python3.11 -u", "python"),
        (b"#!/bin/bash", None),
        (b"#!/usr/bin/env pythonista", None),
        (b"#!/usr/bin/env python3.x", None),
        (b"print('no shebang')", None),
        (b"", None),
    ],
)
def test_shebang_resolution(tmp_path: Path, line: bytes, found: str | None) -> None:
    (tmp_path / "train").write_bytes(line + b"\nrest\n")
    assert shebang_interpreter(tmp_path / "train") == found


def test_python_names() -> None:
    assert all(is_python_name(n) for n in ("python", "python3", "python3.9", "python3.13"))
    assert not any(is_python_name(n) for n in ("python2", "python3.", "python3.x", "pypy3", "sh"))


def test_container_mode_argv(tmp_path: Path) -> None:
    (tmp_path / "train").write_text("#!/usr/bin/env python3.9\n")
    spec = HostSpec(
        job_name="j", host="algo-1", hosts=("algo-1",), instance_type="ml.m5.large",
        entry_point=EntryPoint("executable", "train"), code_dir=tmp_path,
        python=Path("/env/bin/python"), work_root=tmp_path / "ml", hyperparameters={"lr": "1"},
    )  # fmt: skip
    python = ["/env/bin/python", "-E", "-s", "-u"]
    assert program_argv(spec, "/opt/ml") == [*python, "/opt/ml/code/train", "--lr", "1"]
    container = replace(spec, mode="container")
    assert program_argv(container, "/opt/ml") == [*python, "/opt/ml/code/train"]
    shell = replace(container, interpreter="sh")
    assert program_argv(shell, "/opt/ml") == ["/bin/sh", "/opt/ml/code/train"]


@pytest.mark.parametrize(
    ("cpus", "gpus", "expected"),
    [(1, 0, "ml.m5.large"), (2, 0, "ml.m5.large"), (3, 0, "ml.m5.xlarge"),
     (16, 0, "ml.m5.4xlarge"), (500, 0, "ml.m5.24xlarge"), (8, 1, "ml.g5.xlarge"),
     (8, 3, "ml.g5.12xlarge"), (8, 16, "ml.g5.48xlarge")],
)  # fmt: skip
def test_default_instance_type(cpus: int, gpus: int, expected: str) -> None:
    assert default_instance_type(cpus, gpus) == expected
    assert instance_type_problem(expected) is None


def test_declared_instance_type_wins() -> None:
    rc = ResourceClass("cpu.small", "", 2, 2**30, 0, 10, 0.0, True, "ml.c5.xlarge")
    assert rc.effective_instance_type == "ml.c5.xlarge"
    assert replace(rc, instance_type=None).effective_instance_type == "ml.m5.large"
    for bad in ("m5.large", "ml.m5", "ML.M5.LARGE", "ml.m5.large;x", "ml..large"):
        assert instance_type_problem(bad) is not None
