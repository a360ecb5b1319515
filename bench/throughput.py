"""Throughput bench: queue claims/s on SQLite and PostgreSQL with N concurrent claimers, and
digits-classifier training samples/s inside the platform (embedded, sandbox on when bwrap works)
against the same script run directly (same interpreter, data, CPU count, a cgroup worth the
class's CPUs) at the same time (or strictly interleaved) beside busy neighbours; per-round
ratios. JSON + tables.

    .venv/bin/python bench/throughput.py [--jobs 400] [--claimers 4] [--epochs 4] [--rounds 4]
        [--busy 1] [--mode together|interleaved] [--platform-weight class|default] [--quick]

`--platform-weight default` is the A/B "before": the job's cgroup keeps the kernel's default CPU
weight (everything else unchanged), as before the weight was scaled by the class's CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.cgroups import class_cgroup, neighbours
from bench.support.embedded import DEFAULT_ENVS, embedded, wait_terminal
from bench.support.report import load, spread, spread_text, table
from tests.integration.test_jobs_queue import job, runner, tenant
from tests.support.db import DatabaseFactory, pg_available
from tests.support.platform_jobs import demo_channels, register_example

from forgeml.db.engine import Database
from forgeml.db.job_queries import get_resource_class
from forgeml.demo.data import write_digits_parts
from forgeml.queue import claims
from forgeml.training import limits

SPS = re.compile(r"samples_per_sec=([0-9.]+)")
CLASS = "cpu.small"


def claim_rate(db: Database, jobs: int, claimers: int) -> float:
    t = tenant(db, "bench")
    for i in range(jobs):
        job(db, t, f"j{i}")
    runners = [runner(db, f"r{i}", cpus=10**6) for i in range(claimers)]
    got = [0] * claimers
    start = threading.Barrier(claimers + 1)

    def work(i: int) -> None:
        start.wait()
        while True:
            with db.write() as conn:
                lease = claims.claim(conn, runners[i], 60)
            if lease is None:
                return
            got[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(claimers)]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    assert sum(got) == jobs, got  # every job claimed exactly once
    return jobs / elapsed


def claims_bench(jobs: int, claimers: int) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgres"):
            if kind == "postgres" and (why := pg_available()):
                out.append({"db": kind, "skipped": why})
                continue
            factory = DatabaseFactory(kind, Path(tmp))
            with factory.new() as db:
                rate = claim_rate(db, jobs, claimers)
            factory.close()
            out.append(
                {"db": kind, "jobs": jobs, "claimers": claimers, "claims_per_s": round(rate, 1)}
            )
    return out


def epoch_sps(lines: list[str]) -> list[float]:
    values = [float(m.group(1)) for line in lines if (m := SPS.search(line))]
    return values[1:] if len(values) > 1 else values  # epoch 1 warms up


def training_bench(
    epochs: int, rounds: int, envs: Path, busy: int, mode: str = "together"
) -> dict[str, Any]:
    """Per round, the platform job and the direct run either at the same time (`together`: the
    direct run starts when the job enters Training, so both see the same load and compete as
    equals if their weights are) or strictly interleaved (order flips every round: ABBA). The
    direct run is in the bench's own cgroup worth the class's CPUs, beside `busy` neighbours."""
    per_round: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, embedded(envs) as emb:
        w = emb.world
        parts = write_digits_parts(Path(tmp) / "data")
        algo = register_example(w, "digits-classifier", Path(tmp))
        channels = demo_channels(w, parts, "b")
        resolved = emb.services.job_runs.load_algorithm(algo)
        with emb.services.db.read() as conn:
            cpus = get_resource_class(conn, CLASS).cpus  # type: ignore[union-attr]
        with class_cgroup(cpus) as (cg, join), neighbours(busy):
            for n in range(rounds):
                runs = {
                    "platform": partial(platform_run, w, algo, channels, epochs, n),
                    "direct": partial(
                        direct_run, resolved.python, resolved.code_dir, parts, epochs,
                        Path(tmp) / f"o{n}", cpus, join,
                    ),
                }  # fmt: skip
                if mode == "together":
                    sps = {k: statistics.median(v) for k, v in together(**runs).items()}
                else:
                    order = ["platform", "direct"] if n % 2 == 0 else ["direct", "platform"]
                    sps = {k: statistics.median(runs[k]()) for k in order}
                sps["ratio"] = sps["platform"] / sps["direct"]
                per_round.append({k: round(v, 3) for k, v in sps.items()} | {"load": load()})
    ratios = [r["ratio"] for r in per_round]
    return {
        "epochs": epochs,
        "class": CLASS,
        "class_cpus": cpus,
        "busy_neighbours": busy,
        "mode": mode,
        "sandbox": emb.sandbox,
        "direct_cgroup": cg,
        "rounds": per_round,
        "platform_samples_per_s": spread([r["platform"] for r in per_round], 1),
        "direct_samples_per_s": spread([r["direct"] for r in per_round], 1),
        "ratio": spread(ratios),
        "goal_ratio": 0.98,
    }


def together(
    platform: Callable[..., list[float]], direct: Callable[[], list[float]]
) -> dict[str, list[float]]:
    """Run the platform job and, from the moment it trains, the direct run beside it."""
    out: dict[str, list[float]] = {}
    threads: list[threading.Thread] = []

    def start() -> None:
        th = threading.Thread(target=lambda: out.__setitem__("direct", direct()))
        th.start()
        threads.append(th)

    out["platform"] = platform(on_training=start)
    for th in threads:
        th.join()
    return out


def platform_run(
    w: Any,
    algo: str,
    channels: dict[str, Any],
    epochs: int,
    n: int,
    on_training: Callable[[], None] | None = None,
) -> list[float]:
    body = {"name": f"digits-{n}", "algorithm": algo, "input_data": channels,
            "resources": {"resource_class": CLASS},
            "hyperparameters": {"epochs": epochs}}  # fmt: skip
    resp = w.client.post("/api/v1/training-jobs", json=body, headers=w.a.h())
    assert resp.status_code == 201, resp.text
    if on_training is not None:
        wait_training(w, resp.json()["id"])
        on_training()
    done = wait_terminal(w, resp.json()["id"])
    assert done["status"] == "Completed", done["failure_reason"]
    url = f"/api/v1/training-jobs/{done['id']}/logs?limit=5000"
    return epoch_sps([x["text"] for x in w.client.get(url, headers=w.a.h()).json()["items"]])


def wait_training(w: Any, job_id: str) -> None:
    while True:
        job = w.client.get(f"/api/v1/training-jobs/{job_id}", headers=w.admin).json()
        if job["secondary_status"] not in {"Pending", "Starting", "Downloading"}:
            return
        time.sleep(0.05)


def direct_run(
    python: Path,
    code: Path,
    parts: dict[str, Path],
    epochs: int,
    out: Path,
    cpus: int,
    join: Callable[[], None] | None,
) -> list[float]:
    """`python train.py`: same interpreter, data, CPU count and flags, in `join`'s cgroup."""
    out.mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "SM_CHANNEL_TRAIN": str(parts["tenant"].parent),
        "SM_CHANNEL_PLATFORM": str(parts["platform"].parent),
        "SM_CHANNEL_VALIDATION": str(parts["validation"].parent),
        "SM_MODEL_DIR": str(out), "SM_OUTPUT_DIR": str(out), "SM_NUM_CPUS": str(cpus),
    }  # fmt: skip
    argv = [str(python), "-E", "-s", "-u", str(code / "train.py"), "--epochs", str(epochs)]
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=True, preexec_fn=join
    )
    return epoch_sps(done.stdout.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--claimers", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4, help="platform/direct pairs")
    ap.add_argument("--busy", type=int, default=1, help="busy neighbour processes")
    ap.add_argument("--mode", choices=["together", "interleaved"], default="together")
    ap.add_argument(
        "--platform-weight",
        choices=["class", "default"],
        default="class",
        help="default: the job cgroup keeps the kernel's weight (A/B before)",
    )
    ap.add_argument("--quick", action="store_true", help="100 jobs, 3 epochs, 2 rounds")
    ap.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help="venv cache (kept)")
    args = ap.parse_args()
    jobs, epochs, rounds = (100, 3, 2) if args.quick else (args.jobs, args.epochs, args.rounds)
    if args.platform_weight == "default":
        # The runner is in this process: its cgroups get one CPU's weight, whatever the class.
        limits.cpu_weight = lambda spec, version: 100 if version == 2 else 1024
    result = {
        "bench": "throughput",
        "cpus": os.cpu_count(),
        "claims": claims_bench(jobs, args.claimers),
        "load_before": load(),
        "platform_weight": args.platform_weight,
        "training": training_bench(epochs, rounds, args.envs, args.busy, args.mode),
        "load_after": load(),
    }
    print(json.dumps(result, indent=2))
    rows = [
        [
            c["db"],
            c.get("jobs", "-"),
            c.get("claimers", "-"),
            c.get("claims_per_s", c.get("skipped")),
        ]
        for c in result["claims"]
    ]
    print(table(["db", "jobs", "claimers", "claims/s"], rows))
    t = result["training"]
    print()
    cols = ["platform", "direct", "ratio", "load"]
    rows = [[i + 1, *[r[c] for c in cols]] for i, r in enumerate(t["rounds"])]
    print(table(["round", *cols], rows))
    print()
    print(table(
        ["class", "neighbours", "mode", "sandbox", "job weight", "direct cgroup",
         "ratio (median [min-max, n])", "load", "goal"],
        [[f"{CLASS} ({t['class_cpus']} CPUs)", t["busy_neighbours"], t["mode"], t["sandbox"],
          args.platform_weight, t["direct_cgroup"], spread_text(t["ratio"]),
          f"{result['load_before'].split()[0]}-{result['load_after'].split()[0]}",
          t["goal_ratio"]]],
    ))  # fmt: skip


if __name__ == "__main__":
    main()
