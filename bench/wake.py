"""Wake-up bench: submit → claim across processes in the production shape (`forgeml server` and a
separate `forgeml worker` on a private PostgreSQL database). The clock is the database's record:
the job's `created_at` (the server, at submit) to its first attempt's `starting_at` (the worker,
at claim). One job at a time, each run to its end first, so every claim finds an idle runner.

    .venv/bin/python bench/wake.py [--runs 10]

Run it with another checkout first on PYTHONPATH to measure that code ("before").
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from bench.support.production import production
from bench.support.report import table
from tests.faults.platform import register_algorithm, submit, wait_done
from tests.faults.stack import Api

import forgeml
from forgeml.db.jobs import job_attempts, training_jobs


def tenant_api(url: str, admin: Api) -> Api:
    tag = secrets.token_hex(4)
    t = admin.ok("POST", "/api/v1/tenants", 201, json={"name": f"wake-{tag}"})
    body = {"email": f"m@{tag}.example.com", "role": "member", "tenant_id": t["id"]}
    u = admin.ok("POST", "/api/v1/users", 201, json=body)
    tok = admin.ok("POST", "/api/v1/tokens", 201, json={"name": "t", "user_id": u["id"]})
    return Api(url, tok["token"])


def claim_ms(engine: sa.Engine, job_id: str) -> float:
    t, a = training_jobs, job_attempts
    stmt = (
        sa.select(t.c.created_at, a.c.starting_at)
        .join(a, a.c.job_id == t.c.id)
        .where(t.c.id == job_id, a.c.number == 1)
    )
    with engine.connect() as conn:
        created, started = conn.execute(stmt).one()
    return float((started - created).total_seconds() * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"sandbox": "off", "jobs__runner_cpus": "16"}
        with production(Path(tmp) / "home", **env) as prod:
            admin = Api(prod.url, prod.admin_token)
            register_algorithm(admin)
            api = tenant_api(prod.url, admin)
            engine = sa.create_engine(prod.database_url)
            samples = []
            for i in range(args.runs + 1):  # the first job also waits for its environment
                job_id = submit(api, f"wake-{i}", steps=1, **{"step-seconds": 0})
                wait_done(api, job_id, timeout_s=600)
                time.sleep(0.5)  # the runner is idle again, as between real submissions
                if i:
                    samples.append(claim_ms(engine, job_id))
            engine.dispose()
    load = os.getloadavg()
    result = {
        "code": str(Path(forgeml.__file__).parents[2]),
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "load": [round(x, 2) for x in load],
    }
    print(json.dumps(result))
    keys = ["code", "n", "median_ms", "min_ms", "max_ms", "load"]
    print(table(keys, [[result[k] for k in keys]]))


if __name__ == "__main__":
    main()
