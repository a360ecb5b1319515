"""Dispatch bench: a real `forgeml server` and a separate `forgeml worker` (private PostgreSQL
database, file store, sandbox as the machine allows), the clock from the client's POST of a job to
the program's first line returned by the logs API (polled, as the CLI's `logs --follow` does),
against a bare start of the same script with the same interpreter, strictly interleaved.

Cases: a no-op script and one that imports torch. Each deployment runs with one warm pool size
(`--pools 0,1`: cold starts only, then warm starts); the first job of each environment in a
deployment is reported apart (`cold_first`: no warm interpreter can exist yet). Overhead = the
platform time minus the direct time of the same round. JSON, then a table.

`--launcher N` adds N rounds of `run_host` alone (no server), torch job cold vs warm.

    .venv/bin/python bench/dispatch.py [--runs 5] [--pools 0,1] [--quick] [--launcher 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench.support.embedded import DEFAULT_ENVS, MANIFEST
from bench.support.production import Production, production
from bench.support.report import load, spread, table
from bench.support.warm_starts import launcher_starts
from tests.support.algorithms import tar_gz

from forgeml.client import Client

API = "/api/v1"
RAY_DISPATCH = Path(__file__).resolve().parent / "support" / "ray_dispatch.py"
FIRST = "first line"
CASES = {
    "noop": (f"print({FIRST!r}, flush=True)\n", ""),
    "import-torch": (f"import torch\nprint({FIRST!r}, flush=True)\n", "torch==2.13.0\n"),
}
GOAL_MS = {"noop": 100.0, "import-torch": 1000.0}  # overhead (noop), submit -> line (torch)


def _register(prod: Production, name: str, script: str, requirements: str) -> dict[str, Any]:
    reqs = "requirements: requirements.txt\n" if requirements else ""
    files: dict[str, bytes | str] = {
        "forgeml.yaml": MANIFEST.format(name=name, requirements=reqs),
        "train.py": script,
    }
    if requirements:
        files["requirements.txt"] = requirements
    with Client(prod.url, prod.admin_token) as admin:
        resp = admin.http.post(
            f"{API}/admin/algorithms",
            content=tar_gz(files),
            headers={"Content-Type": "application/gzip"},
        )
        resp.raise_for_status()
        return dict(resp.json())


def _tenant(prod: Production) -> tuple[str, str]:
    """A tenant admin's token and a one-file input dataset."""
    with Client(prod.url, prod.admin_token) as admin:
        tenant = admin.tenants.create("dispatch")
        user = admin.users.create(
            "d@example.com", role="tenant-admin", tenant_id=tenant["id"], password="dispatch-pw1"
        )
        token = admin.tokens.create("dispatch", user_id=user["id"])["token"]
    with Client(prod.url, token) as c, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "x.csv"
        data.write_text("a\n1\n")
        ds = c.datasets.create("dispatch-input")["id"]
        c.datasets.upload(ds, [data])
    return token, ds


@dataclass
class Sample:
    """One platform run: the client's figure, and the server's timestamps of its steps."""

    ms: float
    job: str
    posted: datetime
    seen: datetime
    lines: list[dict[str, Any]]

    @property
    def warm(self) -> bool:
        return any(i["stream"] == "system" and "start=warm" in i["text"] for i in self.lines)


def platform_once(http: httpx.Client, algo: str, ds: str, poll_s: float) -> Sample:
    """The clock from the POST to the program's first line in the logs API."""
    body = {"name": f"d-{time.monotonic_ns()}", "algorithm": algo,
            "input_data": {"train": {"dataset_id": ds}}}  # fmt: skip
    posted, t0 = datetime.now(UTC), time.perf_counter()
    resp = http.post(f"{API}/training-jobs", json=body)
    assert resp.status_code == 201, resp.text
    job = resp.json()["id"]
    after, deadline, lines = 0, time.monotonic() + 1800, []
    while time.monotonic() < deadline:
        page = http.get(f"{API}/training-jobs/{job}/logs", params={"after": after}).json()
        lines += page["items"]
        if any(i["stream"] == "stdout" and i["text"] == FIRST for i in page["items"]):
            ms = (time.perf_counter() - t0) * 1000
            return Sample(ms, job, posted, datetime.now(UTC), lines)
        after = page["next_after"]
        time.sleep(poll_s)
    raise TimeoutError(f"job {job}: no first line")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def steps(sample: Sample, job: dict[str, Any]) -> dict[str, float]:
    """Where the time went (ms), from the server's timestamps (same machine clock)."""
    system = next((i for i in sample.lines if i["stream"] == "system"), None)
    first = next(i for i in sample.lines if i["stream"] == "stdout")
    marks = [
        ("posted", sample.posted),
        ("created", _at(job.get("created_at"))),
        ("claimed", _at(job.get("started_at"))),
        ("training", _at(job.get("training_started_at"))),
        ("jail_up", _at(system["at"]) if system else None),
        ("line_read", _at(first["at"])),
        ("visible", sample.seen),
    ]
    known = [(n, t) for n, t in marks if t is not None]
    return {
        f"{a}->{b}": round((tb - ta).total_seconds() * 1000, 1)
        for (a, ta), (b, tb) in itertools.pairwise(known)
    }


def wait_end(http: httpx.Client, job: str) -> dict[str, Any]:
    while True:
        got = http.get(f"{API}/training-jobs/{job}").json()
        if got["status"] in ("Completed", "Failed", "Stopped"):
            return dict(got)
        time.sleep(0.05)


def direct_once(python: Path, script: Path) -> float:
    """A bare start: the same interpreter and flags, no platform, first line read from a pipe."""
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


def env_python(envs: Path, algo: dict[str, Any]) -> Path:
    """The algorithm environment's interpreter (the admin view names its digest)."""
    digest = next((str(v) for k, v in algo.items() if "digest" in k and v), "")
    found = envs / digest.removeprefix("sha256:") / "bin" / "python"
    if found.exists():
        return found
    newest = max(envs.glob("*/bin/python"), key=lambda p: p.stat().st_mtime)
    return newest


def bench_case(
    prod: Production, http: httpx.Client, ds: str, case: str, args: argparse.Namespace
) -> dict[str, Any]:
    script, requirements = CASES[case]
    # The same bundle every run: its environment (by digest) is built once and kept in --envs.
    algo = _register(prod, f"dispatch-{case}", script, requirements)
    first = platform_once(http, algo["id"], ds, args.poll_s)
    ended = wait_end(http, first.job)
    python = env_python(args.envs, algo)
    platform, direct, overhead, split, samples = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.py"
        path.write_text(script)
        direct_once(python, path)  # page cache
        for _ in range(args.runs):
            time.sleep(args.gap_s)  # a warm pool refills between jobs, as between real submits
            d = direct_once(python, path)
            sample = platform_once(http, algo["id"], ds, args.poll_s)
            split.append(steps(sample, wait_end(http, sample.job)))
            samples.append(sample)
            platform.append(sample.ms)
            direct.append(d)
            overhead.append(sample.ms - d)
    return {
        "case": case,
        "first_job_ms": round(first.ms, 1),
        "first_job_status": ended["status"],
        "first_job_steps_ms": steps(first, ended),
        "platform_ms": spread(platform, 1),
        "direct_ms": spread(direct, 1),
        "overhead_ms": spread(overhead, 1),
        "steps_ms": {k: spread([s[k] for s in split if k in s], 1) for k in split[0]},
        "warm_starts": sum(s.warm for s in samples),
    }


def run_pool(size: int, cases: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = {"jobs__warm_pool_size": str(size), "algorithm_envs_dir": str(args.envs)}
    with (
        tempfile.TemporaryDirectory(prefix="forgeml-dispatch-") as tmp,
        production(Path(tmp) / "home", **settings) as prod,
    ):
        token, ds = _tenant(prod)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=prod.url, headers=headers, timeout=120) as http:
            rows = [bench_case(prod, http, ds, c, args) for c in cases]
    return [{"warm_pool_size": size, **r} for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pools", default="0,1", help="warm pool sizes, one deployment each")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--gap-s", type=float, default=3.0, help="pause before each round")
    ap.add_argument("--poll-s", type=float, default=0.01, help="logs API poll interval")
    ap.add_argument("--quick", action="store_true", help="2 runs, no-op case only")
    ap.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help="venv cache (kept)")
    ap.add_argument("--launcher", type=int, default=0, metavar="N",
                    help="also N rounds of the launcher alone, torch job cold vs warm")  # fmt: skip
    ray_help = "also the Ray executor vs Ray's own Jobs API (inside unshare -n)"
    ap.add_argument("--ray", action="store_true", help=ray_help)
    ap.add_argument("--only-ray", action="store_true", help="the Ray comparison alone")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.cases = 2, "noop"
    args.envs.mkdir(parents=True, exist_ok=True)
    cases = args.cases.split(",")
    load_before = load()
    pools = [] if args.only_ray else list(map(int, args.pools.split(",")))
    rows = [r for size in pools for r in run_pool(size, cases, args)]
    on_ray = ray_dispatch(args.runs) if args.ray or args.only_ray else None
    out = {
        "bench": "dispatch",
        "shape": "forgeml server + forgeml worker, PostgreSQL, file store",
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load(),
        "poll_s": args.poll_s,
        "goal_ms": GOAL_MS,
        "results": rows,
        "launcher_torch_first_line_ms": launcher_starts(args.launcher) if args.launcher else None,
        "ray": on_ray,
    }
    print(json.dumps(out, indent=2))
    cols = ["warm_pool_size", "case", "first_job_ms", "platform_ms", "direct_ms", "overhead_ms",
            "warm_starts"]  # fmt: skip
    cells = [[r[c] if not isinstance(r[c], dict) else _fmt(r[c]) for c in cols] for r in rows]
    if cells:
        print(table(cols, cells))
    if out["launcher_torch_first_line_ms"]:
        launcher = out["launcher_torch_first_line_ms"]
        print("launcher alone, torch job:", {k: _fmt(v) for k, v in launcher.items()})
    if on_ray:
        keys = ["forgeml_ray_ms", "ray_jobs_api_ms", "direct_ms", "ratio_forgeml_to_ray_jobs"]
        print(table(["no-op job, submit -> first log line", "median [min-max] n"],
                    [[k, _fmt(on_ray[k])] for k in keys]))  # fmt: skip
        print("first job of each:", on_ray["first_ms"], "load", on_ray["load"])
    print(f"load {load_before} -> {load()}")


def ray_dispatch(runs: int) -> dict[str, Any]:
    """bench/support/ray_dispatch.py in a loopback-only namespace (Ray binds every interface)."""
    inner = f"ip link set lo up && exec {sys.executable} {RAY_DISPATCH} --runs {runs}"
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", inner], capture_output=True, text=True, timeout=3000,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"the Ray dispatch bench failed: {proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _fmt(s: dict[str, Any]) -> str:
    return f"{s['median']} [{s['min']}-{s['max']}] n={s['n']}"


if __name__ == "__main__":
    main()
