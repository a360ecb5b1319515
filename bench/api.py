"""API bench: authenticated list and describe routes of a real `forgeml up` (a tenant member's
bearer token) against a bare FastAPI endpoint on the same uvicorn settings, with the same client
(wrk, fixed connections) in the same run, targets interleaved round by round; first, the CPU per
request of the same routes called in-process on one event loop (`support/inproc.py`), which the
machine's load distorts less. JSON + a table.

    .venv/bin/python bench/api.py [--rounds 3] [--seconds 3] [--connections 16] [--cpu-only]
    .venv/bin/python bench/api.py --cpu-only --profile datasets.list   # cProfile of one route
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import inproc
from bench.support.report import load, spread, spread_text, table
from bench.support.servers import bare_app, forgeml_up

from forgeml.client import Client

GOALS = {"list": 0.3, "p99_ms": 100.0}
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def seed(url: str, admin_token: str) -> tuple[str, dict[str, str]]:
    """A tenant with a member's token and 20 datasets: (token, {target: path})."""
    with Client(url, admin_token) as admin:
        tenant = admin.tenants.create("bench")
        user = admin.users.create("member@bench.example", role="member", tenant_id=tenant["id"])
        token = admin.tokens.create("bench", user_id=user["id"])["token"]
    with Client(url, token) as c:
        ids = [c.datasets.create(f"bench-{i:02}")["id"] for i in range(20)]
    return token, {
        "datasets.list": "/api/v1/datasets?limit=20",
        "datasets.get": f"/api/v1/datasets/{ids[7]}",
        "jobs.list": "/api/v1/training-jobs?limit=20",
    }


def wrk(url: str, seconds: int, connections: int, token: str | None) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{url}: {bad.group(1)} error responses\n{out}")
    return {"rps": rps, "p99_ms": float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")}


def bench(rounds: int, seconds: int, connections: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="forgeml-bench-api-"))
    per_round: list[dict[str, Any]] = []
    try:
        with bare_app(work) as (bare_url, _), forgeml_up(work / "home") as (url, admin, _):
            token, paths = seed(url, admin)
            targets = {"bare": (f"{bare_url}/bare/items?limit=20", None)}
            targets |= {k: (url + p, token) for k, p in paths.items()}
            names = list(targets)
            for name in names:  # warm-up: caches, connection pools, first-request imports
                wrk(targets[name][0], 1, connections, targets[name][1])
            for r in range(rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                got = {n: wrk(targets[n][0], seconds, connections, targets[n][1]) for n in order}
                per_round.append({"load": load(), **got})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summarize(per_round, [n for n in names if n != "bare"], seconds, connections)


def summarize(
    per_round: list[dict[str, Any]], routes: list[str], seconds: int, connections: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "api", "seconds": seconds, "connections": connections}
    out["bare"] = {
        "rps": spread([r["bare"]["rps"] for r in per_round], 0),
        "p99_ms": spread([r["bare"]["p99_ms"] for r in per_round], 1),
    }
    for name in routes:
        out[name] = {
            "rps": spread([r[name]["rps"] for r in per_round], 0),
            "p99_ms": spread([r[name]["p99_ms"] for r in per_round], 1),
            "ratio": spread([r[name]["rps"] / r["bare"]["rps"] for r in per_round]),
        }
    out["rounds"] = per_round
    out["goals"] = GOALS
    return out


def cpu(requests: int, rounds: int, profile: str | None) -> dict[str, Any]:
    """CPU ms per request in-process, and bare's CPU over each route's (higher is better)."""
    got = inproc.measure(requests, rounds, profile)
    out: dict[str, Any] = {"requests": requests, "bare_ms": spread(got["bare"], 4)}
    for name in [k for k in got if k != "bare"]:
        ratios = [b / r for b, r in zip(got["bare"], got[name], strict=True)]
        out[name] = {"ms": spread(got[name], 3), "ratio": spread(ratios)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3, help="per target and round")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--cpu-requests", type=int, default=300, help="per target and round")
    ap.add_argument("--cpu-only", action="store_true", help="skip the wrk runs")
    ap.add_argument("--profile", choices=list(inproc.paths("x")), help="print its cProfile")
    args = ap.parse_args()
    if not args.cpu_only and shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk: `make benchdeps` (apt) or install it")
    load_before = load()
    cpu_res = cpu(args.cpu_requests, args.rounds, args.profile)
    res = {} if args.cpu_only else bench(args.rounds, args.seconds, args.connections)
    res["cpu"] = cpu_res
    res["load_before"], res["load_after"] = load_before, load()
    print(json.dumps(res, indent=2))
    print(cpu_table(cpu_res))
    if not args.cpu_only:
        print(wrk_table(res))
    print(f"load {res['load_before']} -> {res['load_after']}; goals {GOALS}")


def cpu_table(res: dict[str, Any]) -> str:
    rows = [["bare", spread_text(res["bare_ms"]), "1"]]
    for name in [k for k in res if "." in k]:
        rows.append([name, spread_text(res[name]["ms"]), spread_text(res[name]["ratio"])])
    return table(["in-process", "CPU ms/request", "bare CPU / route CPU"], rows)


def wrk_table(res: dict[str, Any]) -> str:
    rows = [["bare", spread_text(res["bare"]["rps"]), spread_text(res["bare"]["p99_ms"]), "1"]]
    for name in [k for k in res if "." in k]:
        r = res[name]
        rows.append(
            [name, spread_text(r["rps"]), spread_text(r["p99_ms"]), spread_text(r["ratio"])]
        )
    return table(["target", "req/s", "p99 ms", "ratio to bare"], rows)


if __name__ == "__main__":
    main()
