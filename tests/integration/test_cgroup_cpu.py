"""A running job's cgroup holds a CPU weight worth its class's CPUs, and a quota only on hard caps."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from forgeml.training.launcher import run_host
from forgeml.training.limits import CGROUP_ROOT
from forgeml.training.spec import LogLine, Outcome
from tests.integration.training_helpers import Captured, make_spec
from tests.support.services import service_missing

READY_SCRIPT = """
import os, time
print("ready", os.getpid(), flush=True)
time.sleep(1000)
"""


def _cpu_dir(pid: int) -> tuple[int, Path]:
    """The cgroup version and directory that holds `pid` for the cpu controller."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "cpu" in names.split(","):
            return 1, CGROUP_ROOT / "cpu" / path.lstrip("/")
    path = Path(f"/proc/{pid}/cgroup").read_text().splitlines()[-1].split(":", 2)[2]
    return 2, CGROUP_ROOT / path.lstrip("/")


def _read_cpu_files(pid: int) -> dict[str, str]:
    version, folder = _cpu_dir(pid)
    if version == 1:
        return {
            "weight": (folder / "cpu.shares").read_text().strip(),
            "quota": (folder / "cpu.cfs_quota_us").read_text().strip(),
        }
    return {
        "weight": (folder / "cpu.weight").read_text().strip(),
        "quota": (folder / "cpu.max").read_text().split()[0],
    }


def _run_and_read(tmp_path: Path, cpus: int, hard_cap: bool) -> tuple[dict[str, str], Captured]:
    """Start a job that sleeps, read its cgroup's files while it runs, then stop it."""
    spec = make_spec(tmp_path, READY_SCRIPT, cpu_count=cpus, cpu_hard_cap=hard_cap)
    stop = threading.Event()
    captured = Captured()
    seen: dict[str, str] = {}

    def on_log(line: LogLine) -> None:
        captured(line)
        if line.text.startswith("ready "):
            seen.update(_read_cpu_files(int(line.text.split()[1])))
            stop.set()

    result = run_host(spec, on_log=on_log, stop=stop, sandbox="off")
    assert result.outcome == Outcome.STOPPED, captured.text()
    return seen, captured


def _require_cgroup(captured: Captured) -> int:
    first = captured.lines[0].text
    if "cgroup v" not in first:
        service_missing(f"cgroups not writable here: {first}")
    return int(first.split("cgroup v", 1)[1][0])


def test_weight_scales_with_the_class_cpus_and_no_quota_by_default(tmp_path: Path) -> None:
    seen, captured = _run_and_read(tmp_path, cpus=2, hard_cap=False)
    version = _require_cgroup(captured)
    assert seen["weight"] == ("2048" if version == 1 else "200")
    assert seen["quota"] in {"-1", "max"}
    assert "cpu=2:weight" in captured.lines[0].text


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a hard cap needs fewer CPUs than the host")
def test_hard_cap_adds_a_quota_of_the_class_cpus(tmp_path: Path) -> None:
    seen, captured = _run_and_read(tmp_path, cpus=1, hard_cap=True)
    version = _require_cgroup(captured)
    assert seen["weight"] == ("1024" if version == 1 else "100")
    assert seen["quota"] == "100000"
    assert "cpu=1:cap" in captured.lines[0].text
