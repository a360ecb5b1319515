"""Warm starts: a program run by a warm interpreter sees what a cold start shows it, and nothing
of another job's slot; each interpreter serves one job and is gone after it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forgeml.training import mounts
from forgeml.training.launcher import run_host
from forgeml.training.procs import is_running
from forgeml.training.spec import EntryPoint, HostResult, HostSpec, Outcome
from forgeml.training.warm_pool import WarmPool
from tests.integration.training_helpers import (
    Captured,
    make_spec,
    model_json,
    run,
    wait_warm,
    warm_started,
)
from tests.support.platform_jobs import require_bwrap

# Everything about its start a program can observe, but the modules already imported.
VIEW = """
import json, os, resource, socket, sys
def tree(root):
    found = []
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            found.append((path, os.access(path, os.W_OK)))
    return sorted(found)
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
out = {
    "argv": sys.argv, "orig_flags": str(sys.flags), "path": sys.path, "cwd": os.getcwd(),
    "env": dict(os.environ), "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
    "host": socket.gethostname(), "main": [__name__, __file__, __package__,
                                            getattr(__spec__, "origin", None)],
    "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "NoNewPrivs")],
    "limits": [resource.getrlimit(getattr(resource, n)) for n in
               ("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")],
    "ml": tree("/opt/ml"), "root": sorted(os.listdir("/")), "tmp": os.access("/tmp", os.W_OK),
    "etc": {n: open("/etc/" + n).read() for n in ("hosts", "passwd", "group", "nsswitch.conf")},
    "pids": len([p for p in os.listdir("/proc") if p.isdigit()]),
    "ns": sorted(os.listdir("/proc/self/ns")),
}
json.dump(out, open("/opt/ml/model/view.json", "w"))
raise ValueError("the same traceback")
"""


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    require_bwrap()


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[WarmPool]:
    warm = WarmPool(tmp_path / "pool", 2, preload=())
    yield warm
    warm.close()


def _view(result: HostResult) -> dict[str, Any]:
    return model_json(result, "view.json")


def _spec(tmp_path: Path, folder_name: str, script: str, **overrides: Any) -> HostSpec:
    folder = tmp_path / folder_name
    folder.mkdir()
    return make_spec(folder, script, user_env={"TENANT_FLAG": "x y"}, **overrides)


def test_the_program_sees_the_same_start_as_cold(tmp_path: Path, pool: WarmPool) -> None:
    cold_result, cold_log = run(_spec(tmp_path, "cold", VIEW), mode="required")
    wait_warm(pool)
    warm_result, warm_log = run(_spec(tmp_path, "warm", VIEW), mode="required", warm_pool=pool)
    assert warm_started(warm_log) and not warm_started(cold_log)
    assert _view(warm_result) == _view(cold_result)
    assert warm_result.exit_code == cold_result.exit_code == 1
    assert warm_result.failure_reason == cold_result.failure_reason
    assert "the same traceback" in (warm_result.failure_reason or "")
    assert warm_log.text("stderr") == cold_log.text("stderr")


def test_a_module_entry_sees_the_same_start_as_cold(tmp_path: Path, pool: WarmPool) -> None:
    entry: dict[str, Any] = {"name": "view.py", "entry_point": EntryPoint("module", "view")}
    cold, _ = run(_spec(tmp_path, "cold", VIEW, **entry), mode="required")
    wait_warm(pool)
    warm, log = run(_spec(tmp_path, "warm", VIEW, **entry), mode="required", warm_pool=pool)
    assert warm_started(log)
    assert _view(warm) == _view(cold)
    assert warm.failure_reason == cold.failure_reason


SNOOP = """
import json, os
seen = {"model": sorted(os.listdir("/opt/ml/model")),
        "mounts": [l for l in open("/proc/self/mountinfo") if "{other}" in l],
        "other": os.path.exists("{other}"),
        "pids": len([p for p in os.listdir("/proc") if p.isdigit()])}
json.dump(seen, open("/opt/ml/model/view.json", "w"))
"""

HOLD = """
open("/opt/ml/model/secret-of-a", "w").write("a's model")
print("written", flush=True)
import time; time.sleep(600)
"""


def test_a_warm_interpreter_sees_nothing_of_another_jobs_slot(
    tmp_path: Path, pool: WarmPool
) -> None:
    wait_warm(pool, count=2)  # both jails exist before job A's mounts are made
    spec_a = _spec(tmp_path, "a", HOLD)
    stop, captured_a = threading.Event(), Captured()
    results: dict[str, HostResult] = {}

    def job_a() -> None:
        results["a"] = run_host(
            spec_a, on_log=captured_a, stop=stop, sandbox="required", warm_pool=pool
        )

    thread = threading.Thread(target=job_a)
    thread.start()
    try:
        while "written" not in captured_a.text("stdout"):
            assert thread.is_alive(), captured_a.text()
            threading.Event().wait(0.05)
        slot_a = next(p for p in mounts.points_under(pool.root) if p.name == "model").parent
        other = str(slot_a.parent)
        spec_b = _spec(tmp_path, "b", SNOOP.replace("{other}", other))
        result_b, captured_b = run(spec_b, mode="required", warm_pool=pool)
    finally:
        stop.set()
        thread.join(60)
    assert warm_started(captured_a) and warm_started(captured_b)
    seen = _view(result_b)
    assert seen == {"model": [], "mounts": [], "other": False, "pids": 2}
    assert results["a"].outcome == Outcome.STOPPED


def test_each_warm_interpreter_serves_one_job(tmp_path: Path, pool: WarmPool) -> None:
    spec = _spec(tmp_path, "once", "print('ran')")
    wait_warm(pool, spec.python)
    with pool._lock:
        first = pool._ready[spec.python][0]
    result, log = run(spec, mode="required", warm_pool=pool)
    assert warm_started(log) and result.outcome == Outcome.COMPLETED
    assert not is_running(first.proc.pid)
    assert not first.slot.root.exists()
    assert mounts.points_under(first.slot.root) == []
