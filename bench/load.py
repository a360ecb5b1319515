"""Load bench: N concurrent clients for S seconds against a real `forgeml server` + `forgeml
worker` (separate processes, a private PostgreSQL database, a file store), each client mixing
job submits (with an Idempotency-Key, some replayed), job lists, job describes and small dataset
uploads (session, PUT, commit). Reports p50/p99 per operation, errors and 5xx, the load average,
then checks that every accepted job exists exactly once, through the API and in the database.

    .venv/bin/python bench/load.py [--clients 100] [--seconds 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sqlalchemy as sa
from bench.support.embedded import MANIFEST
from bench.support.production import Production, production
from bench.support.report import load, table
from tests.support.algorithms import tar_gz

from forgeml.client import Client

API = "/api/v1"
JOBS = f"{API}/training-jobs"
OPS = {"submit": 3, "list": 3, "describe": 3, "upload": 1}  # relative weights
REPLAY_SHARE = 0.1  # submits that resend an earlier key of the same client (a client retry)
FILE_BYTES = 4096
TRAIN = "print('load bench job', flush=True)\n"


@dataclass
class Stats:
    """Per operation: latencies of completed calls, statuses, transport errors."""

    ms: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: {op: Counter() for op in OPS})
    transport: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> job id
    replay_mismatch: list[str] = field(default_factory=list)


@dataclass
class Seed:
    token: str
    tenant_id: str
    algorithm: str
    input_dataset: str
    upload_datasets: list[str]


def seed(prod: Production, clients: int) -> Seed:
    """A tenant and its admin's token, an algorithm, an input dataset, a dataset per client."""
    with Client(prod.url, prod.admin_token) as admin:
        tenant = admin.tenants.create("load")
        user = admin.users.create(
            "load@example.com", role="tenant-admin", tenant_id=tenant["id"], password="load-pass-1"
        )
        token = admin.tokens.create("load", user_id=user["id"])["token"]
        bundle = tar_gz({"forgeml.yaml": MANIFEST.format(name="load", requirements=""),
                         "train.py": TRAIN})  # fmt: skip
        algo = admin.http.post(
            f"{API}/admin/algorithms",
            content=bundle,
            headers={"Content-Type": "application/gzip"},
        )
        algo.raise_for_status()
    with Client(prod.url, token) as c, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.csv"
        data.write_text("x,y\n1,2\n")
        inp = c.datasets.create("load-input")["id"]
        c.datasets.upload(inp, [data])
        per_client = [c.datasets.create(f"load-up-{i:03}")["id"] for i in range(clients)]
    return Seed(token, tenant["id"], str(algo.json()["id"]), inp, per_client)


async def timed(stats: Stats, op: str, call: Any) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        resp: httpx.Response = await call
    except httpx.HTTPError as exc:
        stats.transport[f"{op}: {type(exc).__name__}"] += 1
        return None
    stats.ms[op].append((time.perf_counter() - t0) * 1000)
    stats.statuses[op][resp.status_code] += 1
    return resp


async def submit(http: httpx.AsyncClient, s: Seed, st: Stats, me: int, mine: list[str]) -> None:
    if mine and random.random() < REPLAY_SHARE:
        key = random.choice(mine)  # a client retrying: the same key, the same body
    else:
        key = f"load-{me}-{len(mine)}"
        mine.append(key)
    body = {"name": key, "algorithm": s.algorithm,
            "input_data": {"train": {"dataset_id": s.input_dataset}}}  # fmt: skip
    resp = await timed(st, "submit", http.post(JOBS, json=body, headers={"Idempotency-Key": key}))
    if resp is None or resp.status_code not in (200, 201):
        return
    job_id = resp.json()["id"]
    first = st.accepted.setdefault(key, job_id)
    if first != job_id:
        st.replay_mismatch.append(f"{key}: {first} then {job_id}")


async def upload(http: httpx.AsyncClient, dataset: str, st: Stats) -> None:
    """One small version: open a session, PUT the file, commit (timed as one operation)."""
    blob = os.urandom(FILE_BYTES)
    digest = hashlib.sha256(blob).hexdigest()
    decl = {"path": "part.bin", "size": len(blob), "sha256": digest}
    base = f"{API}/datasets/{dataset}/uploads"

    async def steps() -> httpx.Response:
        opened = await http.post(base, json={"files": [decl]})
        if opened.status_code != 201:
            return opened
        uid = opened.json()["version"]["id"]
        headers = {"content-type": "application/octet-stream", "x-content-sha256": digest}
        put = await http.put(f"{base}/{uid}/files/part.bin", content=blob, headers=headers)
        if put.status_code != 200:
            return put
        return await http.post(f"{base}/{uid}/commit")

    await timed(st, "upload", steps())


async def client(http: httpx.AsyncClient, s: Seed, st: Stats, me: int, until: float) -> None:
    mine: list[str] = []
    names, weights = list(OPS), list(OPS.values())
    while time.monotonic() < until:
        op = random.choices(names, weights)[0]
        if op == "submit":
            await submit(http, s, st, me, mine)
        elif op == "describe" and st.accepted:
            job_id = random.choice(list(st.accepted.values()))
            await timed(st, "describe", http.get(f"{JOBS}/{job_id}"))
        elif op == "upload":
            await upload(http, s.upload_datasets[me], st)
        else:  # a list (also instead of a describe while nothing has been accepted yet)
            await timed(st, "list", http.get(JOBS, params={"limit": 20}))


async def drive(url: str, s: Seed, clients: int, seconds: float) -> Stats:
    st = Stats()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {s.token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as http:
        until = time.monotonic() + seconds
        await asyncio.gather(*(client(http, s, st, i, until) for i in range(clients)))
    return st


def verify(prod: Production, s: Seed, st: Stats) -> dict[str, Any]:
    """Every accepted job exactly once: in the API's list and in the database."""
    with Client(prod.url, s.token) as c:
        listed = Counter(j["id"] for j in c.pages(JOBS, {"limit": 200}))
    accepted = set(st.accepted.values())
    engine = sa.create_engine(prod.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, idempotency_key FROM training_jobs WHERE tenant_id = :t"),
            {"t": s.tenant_id},
        ).all()
    engine.dispose()
    by_key = Counter(r.idempotency_key for r in rows)
    return {
        "accepted_keys": len(st.accepted),
        "accepted_jobs": len(accepted),
        "api_listed": sum(listed.values()),
        "api_missing": len(accepted - set(listed)),
        "api_duplicated": sum(1 for n in listed.values() if n > 1),
        "db_rows": len(rows),
        "db_missing": len(accepted - {r.id for r in rows}),
        "db_duplicate_keys": sum(1 for n in by_key.values() if n > 1),
        "db_unaccepted": len({r.id for r in rows} - accepted),
        "replay_mismatch": st.replay_mismatch[:10],
    }


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(st: Stats, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op in OPS:
        codes = st.statuses[op]
        transport = sum(n for k, n in st.transport.items() if k.startswith(f"{op}:"))
        out[op] = {
            "n": len(st.ms[op]),
            "per_s": round(len(st.ms[op]) / seconds, 1),
            "p50_ms": pct(st.ms[op], 0.50),
            "p99_ms": pct(st.ms[op], 0.99),
            "errors": sum(n for c, n in codes.items() if c >= 400) + transport,
            "5xx": sum(n for c, n in codes.items() if c >= 500),
            "statuses": {str(c): n for c, n in sorted(codes.items())},
        }
    return out


def bench(clients: int, seconds: float) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="forgeml-bench-load-") as tmp,
        production(Path(tmp) / "home") as prod,
    ):
        s = seed(prod, clients)
        before = load()
        st = asyncio.run(drive(prod.url, s, clients, seconds))
        after = load()
        checked = verify(prod, s, st)
    return {
        "clients": clients,
        "seconds": seconds,
        "load_before": before,
        "load_after": after,
        "operations": summary(st, seconds),
        "transport_errors": dict(st.transport),
        "exactly_once": checked,
    }


def ok(res: dict[str, Any]) -> bool:
    """No job lost or duplicated, no 5xx. A job nobody saw accepted counts only when no submit
    lost its response in transport (then the client could not know it was created)."""
    x = res["exactly_once"]
    lost_or_dup = x["api_missing"] + x["api_duplicated"] + x["db_missing"]
    lost_or_dup += x["db_duplicate_keys"] + len(x["replay_mismatch"])
    if not any(k.startswith("submit:") for k in res["transport_errors"]):
        lost_or_dup += x["db_unaccepted"]
    return lost_or_dup == 0 and all(o["5xx"] == 0 for o in res["operations"].values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 10 clients for 5 s")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.seconds = 10, 5.0
    res = bench(args.clients, args.seconds)
    print(json.dumps(res, indent=2))
    rows = [
        [op, o["n"], o["per_s"], o["p50_ms"], o["p99_ms"], o["errors"], o["5xx"]]
        for op, o in res["operations"].items()
    ]
    print(table(["operation", "n", "per s", "p50 ms", "p99 ms", "errors", "5xx"], rows))
    x = res["exactly_once"]
    print(
        f"accepted {x['accepted_jobs']} jobs ({x['accepted_keys']} keys): API lists "
        f"{x['api_listed']} (missing {x['api_missing']}, duplicated {x['api_duplicated']}); "
        f"DB rows {x['db_rows']} (missing {x['db_missing']}, duplicate keys "
        f"{x['db_duplicate_keys']}, not accepted {x['db_unaccepted']})"
    )
    print(f"load {res['load_before']} -> {res['load_after']}; {res['clients']} clients")
    sys.exit(0 if ok(res) else 1)


if __name__ == "__main__":
    main()
