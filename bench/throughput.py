"""Throughput bench: queue claims/s on SQLite and PostgreSQL with N concurrent claimers, and
digits-classifier training samples/s inside the platform (embedded, sandbox on when bwrap works)
against the same script run directly with the same interpreter and data. Prints JSON + a table.

    .venv/bin/python bench/throughput.py [--jobs 400] [--claimers 4] [--epochs 4] [--quick]
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.embedded import DEFAULT_ENVS, embedded, table, wait_terminal
from tests.integration.test_jobs_queue import job, runner, tenant
from tests.support.db import DatabaseFactory, pg_available
from tests.support.platform_jobs import demo_channels, register_example

from forgeml.db.engine import Database
from forgeml.demo.data import write_digits_parts
from forgeml.queue import claims

SPS = re.compile(r"samples_per_sec=([0-9.]+)")


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


def training_bench(epochs: int, rounds: int, envs: Path) -> dict[str, Any]:
    """Platform job and direct run alternate `rounds` times (the machine's load drifts)."""
    platform: list[float] = []
    direct: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, embedded(envs) as emb:
        w = emb.world
        parts = write_digits_parts(Path(tmp) / "data")
        algo = register_example(w, "digits-classifier", Path(tmp))
        channels = demo_channels(w, parts, "b")
        resolved = emb.services.job_runs.load_algorithm(algo)
        for n in range(rounds):
            body = {"name": f"digits-{n}", "algorithm": algo, "input_data": channels,
                    "hyperparameters": {"epochs": epochs}}  # fmt: skip
            resp = w.client.post("/api/v1/training-jobs", json=body, headers=w.a.h())
            assert resp.status_code == 201, resp.text
            done = wait_terminal(w, resp.json()["id"])
            assert done["status"] == "Completed", done["failure_reason"]
            url = f"/api/v1/training-jobs/{done['id']}/logs?limit=5000"
            platform += epoch_sps(
                [x["text"] for x in w.client.get(url, headers=w.a.h()).json()["items"]]
            )
            out = Path(tmp) / f"out-{n}"
            direct += direct_run(resolved.python, resolved.code_dir, parts, epochs, out)
        p, d = statistics.median(platform), statistics.median(direct)
        return {
            "epochs": epochs,
            "rounds": rounds,
            "sandbox": emb.sandbox,
            "platform_samples_per_s": round(p, 1),
            "direct_samples_per_s": round(d, 1),
            "ratio": round(p / d, 3),
            "goal_ratio": 0.98,
        }


def direct_run(
    python: Path, code: Path, parts: dict[str, Path], epochs: int, out: Path
) -> list[float]:
    """`python train.py` with the same interpreter, data, CPU count (cpu.small: 2) and flags."""
    out.mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "SM_CHANNEL_TRAIN": str(parts["tenant"].parent),
        "SM_CHANNEL_PLATFORM": str(parts["platform"].parent),
        "SM_CHANNEL_VALIDATION": str(parts["validation"].parent),
        "SM_MODEL_DIR": str(out), "SM_OUTPUT_DIR": str(out), "SM_NUM_CPUS": "2",
    }  # fmt: skip
    argv = [str(python), "-E", "-s", "-u", str(code / "train.py"), "--epochs", str(epochs)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return epoch_sps(done.stdout.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--claimers", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="platform/direct pairs")
    ap.add_argument("--quick", action="store_true", help="100 jobs, 3 epochs, 1 round")
    ap.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help="venv cache (kept)")
    args = ap.parse_args()
    jobs, epochs, rounds = (100, 3, 1) if args.quick else (args.jobs, args.epochs, args.rounds)
    result = {
        "bench": "throughput",
        "cpus": os.cpu_count(),
        "claims": claims_bench(jobs, args.claimers),
        "training": training_bench(epochs, rounds, args.envs),
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
    print(table(list(t), [list(t.values())]))


if __name__ == "__main__":
    main()
