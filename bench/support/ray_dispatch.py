"""Dispatch on Ray, run by `bench/dispatch.py --ray` inside a loopback-only network namespace (Ray
binds every interface): one Ray head (`ray start`, dashboard on for the Jobs API), a `forgeml up`
with `executor = "ray"` on it, and the same no-op script through Ray's own Jobs API
(`JobSubmissionClient`). Clock: submit -> the first line visible in each one's logs API, rounds
interleaved (order alternating); and a bare `python` start. Prints one JSON object.

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/support/ray_dispatch.py'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
from bench.dispatch import CASES, FIRST, _register, _tenant, direct_once, platform_once
from bench.support.report import load, spread
from bench.support.servers import clean_env, forgeml_up, free_port

RAY = str(Path(sys.executable).parent / "ray")


def start_head(tmp: Path) -> tuple[str, str]:
    """(GCS address, dashboard URL) of a fresh single-node Ray cluster."""
    port, dash = free_port(), free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(
        [RAY, "start", "--head", f"--port={port}", "--num-cpus=4", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--temp-dir={tmp}",
         "--disable-usage-stats"],
        check=True, env=env, capture_output=True, timeout=180,
    )  # fmt: skip
    url = f"http://127.0.0.1:{dash}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/version", timeout=2).status_code == 200:
                return f"127.0.0.1:{port}", url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the Ray dashboard (Jobs API) did not come up")


def ray_jobs_once(client: Any, script: Path) -> float:
    """Ray's Jobs API: submit_job -> the first line in get_job_logs (polled every 10 ms)."""
    t0 = time.perf_counter()
    job = client.submit_job(entrypoint=f"{sys.executable} {script}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if FIRST in client.get_job_logs(job):
            ms = (time.perf_counter() - t0) * 1000
            while client.get_job_status(job).is_terminal() is False:
                time.sleep(0.05)
            return ms
        time.sleep(0.01)
    raise TimeoutError(f"ray job {job}: no first line")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from ray.job_submission import JobSubmissionClient

    loads = [load()]
    with tempfile.TemporaryDirectory(prefix="fml-ray-") as tmp_s:
        tmp = Path(tmp_s)
        gcs, dashboard = start_head(tmp / "ray")
        script = tmp / "noop.py"
        script.write_text(CASES["noop"][0])
        try:
            env = {**clean_env(), "FORGEML_EXECUTOR": "ray", "FORGEML_RAY__ADDRESS": gcs}
            with forgeml_up(tmp / "home", env) as (url, token, _pid):
                prod = SimpleNamespace(url=url, admin_token=token)
                algo = _register(prod, "noop-ray", CASES["noop"][0], "")["id"]
                tenant_token, ds = _tenant(prod)  # type: ignore[arg-type]
                rows = run_rounds(
                    url, tenant_token, algo, ds, script, JobSubmissionClient(dashboard), args.runs
                )
        finally:
            subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
    loads.append(load())
    print(json.dumps({**rows, "load": loads}))


def run_rounds(
    url: str, token: str, algo: str, ds: str, script: Path, ray_client: Any, runs: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    forgeml: list[float] = []
    ray_jobs: list[float] = []
    direct: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        first_ms = platform_once(http, algo, ds, 0.01).ms  # the environment and actors' first use
        ray_first_ms = ray_jobs_once(ray_client, script)
        for i in range(runs):  # interleaved, the order alternating round by round
            pair = [("forgeml", lambda: platform_once(http, algo, ds, 0.01).ms),
                    ("ray", lambda: ray_jobs_once(ray_client, script))]  # fmt: skip
            for name, run in pair if i % 2 == 0 else pair[::-1]:
                (forgeml if name == "forgeml" else ray_jobs).append(run())
            direct.append(direct_once(Path(sys.executable), script))
    ratios = [f / r for f, r in zip(forgeml, ray_jobs, strict=True)]
    return {
        "forgeml_ray_ms": spread(forgeml),
        "ray_jobs_api_ms": spread(ray_jobs),
        "direct_ms": spread(direct),
        "ratio_forgeml_to_ray_jobs": spread(ratios),
        "first_ms": {"forgeml_ray": round(first_ms, 1), "ray_jobs_api": round(ray_first_ms, 1)},
    }


if __name__ == "__main__":
    main()
