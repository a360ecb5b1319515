"""Fairness bench: the real claim on a real database (SQLite file, private PostgreSQL database on
127.0.0.1:5432 or `FORGEML_TEST_PG`, dropped after) with a fake executor and a fake clock
(tests/support/fairsim.py).

1. Three tenants, weights 2:1:1, 8 slots, jobs of 40-90 fake seconds: A floods 1,000 jobs, B and
   C submit 20 each 90 s later. Prints the wait from B's and C's first submission to their first
   start (fake seconds, and how many other jobs started in between), each tenant's share of the
   used capacity per 300 s window and from 0 s until B's and C's last start (while all three
   have queued work: usage per weight evens out over it), against its weight.
2. Decision time per job (one claim transaction, wall clock) with 100, 1,000 and 10,000 queued
   jobs across up to 1,000 tenants of random weights and usage (goal <= 5 ms).
3. The pending-reason pass at 10,000 queued: rows written and time per pass until none changes.

    .venv/bin/python bench/fairness.py [--claims 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from bench.support.report import load, spread, spread_text, table
from tests.support.db import DatabaseFactory, pg_available
from tests.support.fairsim import FakeClock, Sim, add_tenant, fake_clock, job_values

from forgeml.db import shares
from forgeml.db.engine import Database
from forgeml.db.jobs import training_jobs
from forgeml.db.types import utcnow
from forgeml.domain.fairshare import scale
from forgeml.queue import claims, pending

GOAL_MS = 5.0
DURATIONS = [40, 60, 75, 90, 55]
WEIGHTS = {"A": 2.0, "B": 1.0, "C": 1.0}


def _runner(db: Database, slots: int) -> Any:
    with db.write() as conn:
        return claims.register_runner(
            conn, name="r1", executor="local", cpus=2 * slots,
            memory_bytes=4 * 1024**3 * slots, gpu_indices=[],
        )  # fmt: skip


def flood(db: Database, flood_jobs: int, late_jobs: int) -> dict[str, Any]:
    ids = {n: add_tenant(db, n.lower(), w) for n, w in WEIGHTS.items()}
    names = {v: k for k, v in ids.items()}
    with fake_clock(FakeClock()) as clock:
        sim = Sim(db, clock, _runner(db, 8), lambda j: DURATIONS[sum(map(ord, j)) % 5])
        sim.submit(ids["A"], flood_jobs)
        sim.run_until(90)
        sim.submit(ids["B"], late_jobs)
        sim.submit(ids["C"], late_jobs)
        late = {ids["B"], ids["C"]}
        while sum(1 for s in sim.starts if s.tenant_id in late) < 2 * late_jobs:
            sim.fill()
            sim.finish_next()
        end = max(s.at + s.seconds for s in sim.starts if s.tenant_id in late)
        sim.run_until(end)
    waits = {n: sim.first_start(ids[n]) for n in ("B", "C")}
    windows = []
    for since in range(0, int(end), 300):
        got = sim.shares(since, min(end, since + 300))
        windows.append({"from_s": since, **{names[k]: round(v, 3) for k, v in got.items()}})
    # Contended: until B's and C's last start; after it they have nothing queued, A takes over.
    contended = max(s.at for s in sim.starts if s.tenant_id in late)
    total = sim.shares(0, contended)
    return {
        "first_start": {n: {"wait_s": w, "started_in_between": k} for n, (w, k) in waits.items()},
        "contended_s": contended,
        "end_s": end,
        "share": {names[k]: round(v, 3) for k, v in total.items()},
        "weight_share": {n: w / sum(WEIGHTS.values()) for n, w in WEIGHTS.items()},
        "windows": windows,
    }


def _seed(db: Database, queued: int, n_tenants: int, rng: random.Random) -> None:
    """`queued` jobs across `n_tenants` tenants with random weights and past usage, written in
    bulk (the share rows then refreshed once per tenant, as the policy would have)."""
    ids = [add_tenant(db, f"t{i}", rng.choice([1.0, 2.0, 4.0])) for i in range(n_tenants)]
    clock = FakeClock()
    rows = [job_values(ids[i % n_tenants], f"j{i}", clock.now) for i in range(queued)]
    for r in rows:
        r.update(status="InProgress", secondary_status="Pending", status_message="queued")
    with db.write() as conn:
        conn.execute(training_jobs.insert(), rows)
        for tid in ids:
            shares.refresh(conn, tid, clock.now)
        s = shares.tenant_shares
        for tid in ids:
            past = rng.uniform(0, 1000) * scale(clock.now)
            conn.execute(s.update().where(s.c.tenant_id == tid).values(usage=past))


def decisions(db: Database, queued: int, n_claims: int) -> dict[str, Any]:
    rng = random.Random(queued)
    n_tenants = min(1000, queued)
    _seed(db, queued, n_tenants, rng)
    with db.write() as conn:
        r = claims.register_runner(
            conn, name="big", executor="local", cpus=10**6, memory_bytes=2**60, gpu_indices=[]
        )
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))  # plan on the real sizes, as autovacuum would
    pick, whole, cpu = [], [], []
    for _ in range(min(n_claims, queued)):
        with db.read() as conn:  # the decision alone: which job is next
            t0 = time.perf_counter()
            claims.next_job(conn, r)
            pick.append((time.perf_counter() - t0) * 1000)
        t0, c0 = time.perf_counter(), time.process_time()
        with db.write() as conn:  # the whole claim: decision, start, share state, commit
            lease = claims.claim(conn, r, 3600)
        whole.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert lease is not None
    return {
        "queued": queued, "tenants": n_tenants, "decision_ms": spread(pick),
        "claim_ms": spread(whole), "claim_cpu_ms": spread(cpu),
    }  # fmt: skip


def reasons(db: Database, queued: int) -> dict[str, Any]:
    """The pending-reason pass over `queued` jobs: passes until nothing changes (at most
    `pending.BATCH` rows each), then one pass with nothing to change."""
    _seed(db, queued, min(1000, queued), random.Random(0))
    with db.write() as conn:
        claims.register_runner(
            conn, name="small", executor="local", cpus=2, memory_bytes=2**33, gpu_indices=[]
        )
    passes = []
    while True:
        t0 = time.perf_counter()
        with db.write() as conn:
            changed = pending.refresh(conn, utcnow(), 3600)
        passes.append({"changed": changed, "ms": round((time.perf_counter() - t0) * 1000, 1)})
        if changed == 0:
            return {"queued": queued, "passes": passes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--claims", type=int, default=200, help="claims timed per queue size")
    ap.add_argument("--quick", action="store_true", help="A floods 200; 30 claims per size")
    args = ap.parse_args()
    n_claims = 30 if args.quick else args.claims
    flood_jobs = 200 if args.quick else 1000
    out: dict[str, Any] = {"bench": "fairness", "goal_ms": GOAL_MS, "load_before": load()}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgres"):
            if kind == "postgres" and (why := pg_available()):
                out[kind] = {"skipped": why}
                continue
            factory = DatabaseFactory(kind, Path(tmp))
            with factory.new() as db:
                result: dict[str, Any] = {"flood": flood(db, flood_jobs, 20)}
            sizes = []
            for queued in (100, 1000, 10000):
                with factory.new() as db:
                    sizes.append(decisions(db, queued, n_claims))
            result["decisions"] = sizes
            with factory.new() as db:
                result["pending_reasons"] = reasons(db, 10000)
            factory.close()
            out[kind] = result
    out["load_after"] = load()
    print(json.dumps(out, indent=2))
    _tables(out)


def _tables(out: dict[str, Any]) -> None:
    for kind in ("sqlite", "postgres"):
        res = out.get(kind, {})
        if "flood" not in res:
            continue
        f = res["flood"]
        print(f"\n{kind}: first start after submission (fake s; other jobs started in between)")
        print(table(["tenant", "wait_s", "in_between"], [
            [n, v["wait_s"], v["started_in_between"]] for n, v in f["first_start"].items()
        ]))  # fmt: skip
        print(f"\n{kind}: share of used capacity, 0-{f['contended_s']:.0f} s, vs weight")
        print(table(["tenant", "share", "weight share"], [
            [n, f["share"].get(n, 0), f["weight_share"][n]] for n in WEIGHTS
        ]))  # fmt: skip
        print(table(["from_s", *WEIGHTS], [
            [w["from_s"], *(w.get(n, 0) for n in WEIGHTS)] for w in f["windows"]
        ]))  # fmt: skip
        print(f"\n{kind}: decision time per job, ms: median [min-max, n] (goal <= {GOAL_MS})")
        cols = ["decision_ms", "claim_ms", "claim_cpu_ms"]
        print(table(["queued", "tenants", *cols], [
            [d["queued"], d["tenants"], *(spread_text(d[c]) for c in cols)]
            for d in res["decisions"]
        ]))  # fmt: skip
        p = res["pending_reasons"]["passes"]
        print(f"\n{kind}: pending-reason passes at 10,000 queued (rows written, ms): ", end="")
        print(", ".join(f"{x['changed']} in {x['ms']}" for x in p))
    print(f"\nload average: before {out['load_before']}, after {out['load_after']}")


if __name__ == "__main__":
    main()
