"""Dispatch bench: submit → first user log line of a job (embedded `forgeml up` shape, sandbox on
when bwrap works), for a no-op script and one that imports torch, against running the same script
directly with the same interpreter. Prints JSON and a table; overhead = platform - direct (ms).

    .venv/bin/python bench/dispatch.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from bench.support.embedded import (
    DEFAULT_ENVS,
    Embedded,
    embedded,
    register_script,
    wait_terminal,
)
from bench.support.report import table
from tests.support.jobs import upload_dataset

from forgeml.db.jobs import job_logs

CASES = {
    "noop": ("print('first line', flush=True)\n", ""),
    "import-torch": ("import torch\nprint('first line', flush=True)\n", "torch==2.13.0\n"),
}
GOAL_MS = 150.0


def first_line(emb: Embedded, job_id: str, timeout_s: float = 120.0) -> datetime:
    """Poll the job log (as the logs API reads it) until the program's first stdout line."""
    stmt = (
        sa.select(job_logs.c.at)
        .where(job_logs.c.job_id == job_id, job_logs.c.stream == "stdout")
        .order_by(job_logs.c.id)
        .limit(1)
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with emb.services.db.read() as conn:
            at = conn.execute(stmt).scalar_one_or_none()
        if at is not None:
            return at  # type: ignore[no-any-return]
        time.sleep(0.01)  # polling harder would steal the runner's CPU
    raise TimeoutError("no log line")


def platform_once(emb: Embedded, algo: str, ds: str, n: int) -> tuple[float, float]:
    """(ms until the line was read from the program, ms until it was visible in the log)."""
    body = {"name": f"d-{n}", "algorithm": algo, "input_data": {"train": {"dataset_id": ds}}}
    started, t0 = datetime.now(UTC), time.perf_counter()
    resp = emb.world.client.post("/api/v1/training-jobs", json=body, headers=emb.world.a.h())
    assert resp.status_code == 201, resp.text
    at = first_line(emb, resp.json()["id"])
    visible = (time.perf_counter() - t0) * 1000
    wait_terminal(emb.world, resp.json()["id"])
    return (at - started).total_seconds() * 1000, visible


def direct_once(python: Path, script: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(python), "-E", "-s", "-u", str(script)],
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    ms = (time.perf_counter() - t0) * 1000
    proc.wait()
    return ms


def bench_case(emb: Embedded, name: str, runs: int, counter: list[int]) -> dict[str, Any]:
    script, requirements = CASES[name]
    algo = register_script(emb.world, f"dispatch-{name}", script, requirements)
    ds = upload_dataset(emb.world, emb.world.a.h(), f"ds-{name}", {"x.csv": b"a\n1\n"})
    counter[0] += 1
    platform_once(emb, algo, ds, counter[0])  # warm-up: builds the env, warms caches
    produced, visible = [], []
    for _ in range(runs):
        counter[0] += 1
        p, v = platform_once(emb, algo, ds, counter[0])
        produced.append(p)
        visible.append(v)
    python = emb.services.job_runs.load_algorithm(algo).python
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.py"
        path.write_text(script)
        direct_once(python, path)
        direct = [direct_once(python, path) for _ in range(runs)]
    p, v, d = (statistics.median(x) for x in (produced, visible, direct))
    return {
        "case": name,
        "runs": runs,
        "direct_ms": round(d, 1),
        "platform_line_read_ms": round(p, 1),
        "platform_line_visible_ms": round(v, 1),
        "overhead_ms": round(p - d, 1),
        "overhead_visible_ms": round(v - d, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 runs, no-op case only")
    ap.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help="venv cache (kept)")
    args = ap.parse_args()
    runs = 2 if args.quick else args.runs
    cases = ["noop"] if args.quick else list(CASES)
    counter = [0]
    with embedded(args.envs) as emb:
        results = [bench_case(emb, c, runs, counter) for c in cases]
        sandbox = emb.sandbox
    noop = results[0]
    out = {
        "bench": "dispatch",
        "sandbox": sandbox,
        "cpus": os.cpu_count(),
        "goal_overhead_ms": GOAL_MS,
        "noop_within_goal": noop["overhead_ms"] <= GOAL_MS,
        "results": results,
    }
    print(json.dumps(out, indent=2))
    cols = list(results[0])
    print(table(cols, [[r[c] for c in cols] for r in results]))


if __name__ == "__main__":
    main()
