"""Runs the Ray tests (tests/on_ray) inside a private network namespace with only loopback up:
Ray binds every interface and no flag stops it (../shared/recipes.md), so its cluster and its
clients live where nothing but this machine's loopback exists. One pytest run, its own report."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import require_module, service_missing
from tests.support.shared_tmp import run_shared_dir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800), pytest.mark.xdist_group("example-envs")]


def test_ray_suite_in_a_private_network_namespace(tmp_path_factory: pytest.TempPathFactory) -> None:
    require_module("ray")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        service_missing("the Ray tests need `unshare -n` (root) for a loopback-only namespace")
    envs = run_shared_dir(tmp_path_factory, "example-envs")  # the examples' envs, built once
    env = {
        **os.environ,
        "FORGEML_RAY_NETNS": "1",
        "FORGEML_RAY_ENVS": str(envs),
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    pytest_cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not postgres",
        "--basetemp", str(tmp_path_factory.mktemp("on-ray")), "tests/on_ray",
    ]  # fmt: skip
    inner = shlex.join(pytest_cmd)
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {inner}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1700,
    )  # fmt: skip
    print(proc.stdout[-20000:], proc.stderr[-5000:])
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-3000:]
