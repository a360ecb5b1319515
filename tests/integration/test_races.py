"""Races a client can start never give 500: concurrent upload sessions get distinct version
numbers, concurrent submits with one Idempotency-Key replay the winner, and a name taken by a
concurrent create is a clean 409 — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.jobs import training_jobs
from forgeml.services.jobs import service as jobs_service
from tests.support.datasets import create, sha
from tests.support.jobs import JOBS, job_body, job_settings, register_algorithm, upload_dataset
from tests.support.world import World

API = "/api/v1"
RACERS = 6


@pytest.fixture
def settings(tmp_path: Path, database: Database, envs_dir: Path) -> Settings:
    return job_settings(tmp_path, database.url, envs_dir)


def race(fn: Callable[[int], Any], n: int = RACERS) -> list[Any]:
    """Run `fn(i)` in n threads released together."""
    gate = threading.Barrier(n)

    def go(i: int) -> Any:
        gate.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_concurrent_upload_sessions_get_distinct_version_numbers(world: World) -> None:
    c, h = world.client, world.a.h()
    ds = create(c, h, "versions")["id"]
    decl = [{"path": "a.csv", "size": 3, "sha256": sha(b"a,b")}]
    resps = race(lambda _: c.post(f"{API}/datasets/{ds}/uploads", json={"files": decl}, headers=h))
    assert [r.status_code for r in resps] == [201] * RACERS, [r.text for r in resps]
    numbers = sorted(r.json()["version"]["number"] for r in resps)
    assert numbers == list(range(1, RACERS + 1))


def test_concurrent_creates_of_one_name_are_one_201_and_clean_409s(world: World) -> None:
    c, h = world.client, world.a.h()
    resps = race(lambda _: c.post(f"{API}/datasets", json={"name": "same"}, headers=h))
    codes = sorted(r.status_code for r in resps)
    assert codes == [201] + [409] * (RACERS - 1), [r.text for r in resps]
    assert {r.json()["error"]["code"] for r in resps if r.status_code == 409} == {"already_exists"}


@pytest.fixture
def job_setup(world: World) -> dict[str, Any]:
    v = register_algorithm(world)
    ds = upload_dataset(world, world.a.h(), "rows", {"rows.csv": b"a,b\n1,2\n"})
    return {"algo": v["id"], "ds": ds}


def _jobs_named(world: World, name: str) -> int:
    with world.services.db.read() as conn:
        stmt = sa.select(sa.func.count()).where(training_jobs.c.name == name)
        return int(conn.execute(stmt).scalar_one())


def test_concurrent_submits_with_one_idempotency_key_all_get_the_winner(
    world: World, job_setup: dict[str, Any]
) -> None:
    body = job_body("once", job_setup["algo"], job_setup["ds"])
    h = {**world.a.h(), "Idempotency-Key": "race-1"}
    resps = race(lambda _: world.client.post(JOBS, json=body, headers=h))
    assert [r.status_code for r in resps] == [201] * RACERS, [r.text for r in resps]
    assert len({r.json()["id"] for r in resps}) == 1
    assert _jobs_named(world, "once") == 1


def test_a_submit_that_lost_the_race_past_the_replay_check_replays(
    world: World, job_setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic version of the race: the loser's replay checks ran before the winner
    committed (they see nothing), so its insert is the first thing to meet the winner's row."""
    body = job_body("lost", job_setup["algo"], job_setup["ds"])
    h = {**world.a.h(), "Idempotency-Key": "race-2"}
    first = world.client.post(JOBS, json=body, headers=h)
    assert first.status_code == 201, first.text
    real = jobs_service.idempotent_replay
    calls = {"n": 0}

    def blind_at_first(*args: Any) -> Any:
        calls["n"] += 1
        return None if calls["n"] <= 2 else real(*args)

    monkeypatch.setattr(jobs_service, "idempotent_replay", blind_at_first)
    again = world.client.post(JOBS, json=body, headers=h)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert _jobs_named(world, "lost") == 1
