"""The production shape: `forgeml server` runs no job loops, and a job submitted through it is
claimed by a separate `forgeml worker` because of the NOTIFY (its polling floor is 120 s here,
so only the notification can wake it in time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from forgeml import main
from forgeml.config import Settings
from forgeml.db.jobs import runners, training_jobs
from tests.faults.platform import describe, new_tenant, register_algorithm, submit
from tests.faults.stack import Stack, wait_until
from tests.support.db import private_pg_database

FLOOR_S = "120"  # far beyond the wait below: a claim in time can only come from the NOTIFY
CLAIM_WITHIN_S = 60  # a functional bound, not a timing assertion


def test_the_server_process_runs_no_loops_and_listens_for_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, storage_url="memory://t")
    main.prepare(settings)
    server = main.make_runtime(settings, serve_api=True, workers=False)
    worker = main.make_runtime(settings, serve_api=False, workers=True)
    try:
        assert server.supervisor is None and server.wakeups is None
        assert server.servers  # it serves the API
        assert worker.supervisor is not None and worker.wakeups is not None
        names = {loop.name for loop in worker.supervisor.loops}
        assert {"runner", "algorithm-builder", "dispatcher-0"} <= names
    finally:
        server.services.close()
        worker.services.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with private_pg_database("fmlwake") as url:
        # Stack only reads the cluster's URL; the shared PostgreSQL serves the private database.
        cluster: Any = SimpleNamespace(url=url)
        s = Stack(root=tmp_path, pg=cluster, storage_url=f"file://{tmp_path}/objects")
        try:
            s.prepare()
            s.start_server()
            yield s
        finally:
            s.close()


def _listening(url: str) -> bool:
    """Whether some session of the database has issued LISTEN (the worker's hub is up)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            n = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
                )
            ).scalar_one()
        return bool(n)
    finally:
        eng.dispose()


def _runner_of(url: str, job_id: str) -> Any:
    """The name of the runner holding the job."""
    eng = sa.create_engine(url)
    t, r = training_jobs, runners
    try:
        with eng.connect() as conn:
            stmt = sa.select(r.c.name).join(t, t.c.runner_id == r.c.id).where(t.c.id == job_id)
            return conn.execute(stmt).scalar_one()
    finally:
        eng.dispose()


@pytest.mark.postgres
def test_a_job_submitted_through_the_server_is_claimed_by_the_worker_on_notify(
    stack: Stack,
) -> None:
    url = stack.pg.url
    register_algorithm(stack.admin())
    tenant = new_tenant(stack)
    stack.start_worker("woken", FORGEML_WORKER__WAKE_FLOOR_S=FLOOR_S)
    wait_until(lambda: _listening(url), 120, "the worker to LISTEN")
    wait_until(lambda: "runner registered" in stack.log("worker-woken.log"), 120, "registration")
    time.sleep(2.0)  # settle: the worker's first ticks (and its wake-up on connect) are over
    job_id = submit(tenant.api, "woken", steps=1, **{"step-seconds": 0})
    wait_until(
        lambda: describe(tenant.api, job_id)["attempt"] >= 1,
        CLAIM_WITHIN_S,
        f"the worker to claim {job_id}\n{stack.log('worker-woken.log')}",
    )
    assert _runner_of(url, job_id) == "woken"  # the worker's runner: the server has none
