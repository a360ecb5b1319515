"""Environment build logs in the database: a real uv build's lines and phases through the admin API
(paged and followed over SSE while it runs), the per-build cap, a failed build's log, a rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forgeml.db import build_logs
from forgeml.domain.build_progress import MAX_BUILD_LINE_CHARS, MAX_BUILD_LOG_LINES, BuildPhase
from forgeml.services.algorithms.build_recorder import BuildRecorder
from forgeml.services.container import Services
from forgeml.workers.algorithm_builder import AlgorithmBuilder
from tests.integration.test_environments import WHEEL, write_wheel
from tests.support.algorithms import register, remove_envs, tar_gz, tiny_files
from tests.support.threads import CheckedThread
from tests.support.world import World

ADMIN_API = "/api/v1/admin/algorithms"


@pytest.fixture(autouse=True)
def _remove_envs(services: Services) -> Iterator[None]:
    yield
    remove_envs(services)


def wheel_bundle(tmp_path: Path, requirements: str, name: str = "tiny") -> bytes:
    """A bundle that installs a wheel it carries: uv builds it offline in about a second."""
    wheel = tmp_path / "wheels" / WHEEL
    write_wheel(wheel)
    files = tiny_files(name, requirements=requirements)
    files[f"wheels/{WHEEL}"] = wheel.read_bytes()
    return tar_gz(files)


def lines_url(v: dict[str, Any], suffix: str = "lines") -> str:
    return f"{ADMIN_API}/{v['algorithm_id']}/versions/{v['id']}/build-log/{suffix}"


def build_log(world: World, v: dict[str, Any], after: int = 0) -> dict[str, Any]:
    resp = world.client.get(lines_url(v), params={"after": after}, headers=world.admin)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def drain(services: Services) -> None:
    builder = AlgorithmBuilder(services.algorithm_envs, "test-worker")
    while builder.tick():
        pass


def sse_events(world: World, url: str) -> list[tuple[str, Any]]:
    """Every (event, data) of a stream, read until the server ends it."""
    events: list[tuple[str, Any]] = []
    kind = ""
    with world.client.stream("GET", url, headers=world.admin) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def test_real_build_is_followed_live_then_paged(world: World, tmp_path: Path) -> None:
    v = register(world, wheel_bundle(tmp_path, f"./wheels/{WHEEL}\n"), build=True)
    before = build_log(world, v)
    assert before["build"] is None and before["items"] == [] and not before["finished"]
    builder = CheckedThread(target=drain, args=(world.services,))
    builder.start()  # the stream below follows the build while this thread runs it
    events = sse_events(world, lines_url(v, "stream"))
    builder.join(120)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "end" and kinds[0] == "build"
    streamed = [d["line"] for k, d in events if k == "log"]
    assert any("Installed 1 package" in x for x in streamed)
    phases = [d["phase"] for k, d in events if k == "build"]
    assert phases[-1] == "done"
    page = build_log(world, v)
    assert page["finished"] and page["build"]["phase"] == "done"
    assert page["build"]["packages_installed"] == 1 and page["build"]["attempt"] == 1
    assert page["build"]["finished_at"] and page["build"]["dropped"] == 0
    kept = [x["line"] for x in page["items"]]
    assert kept == streamed  # the stream and the page show the same lines, in order
    assert kept[0].startswith("=== building environment") and "+ tinypkg==0.1.0" in kept[-2]
    by_phase = {x["phase"] for x in page["items"]}
    assert {"creating", "resolving", "installing", "done"} <= by_phase
    rest = build_log(world, v, after=page["next_after"])
    assert rest["items"] == [] and rest["next_after"] == page["next_after"]


def test_failed_build_keeps_its_log_and_a_rebuild_starts_over(world: World, tmp_path: Path) -> None:
    v = register(world, wheel_bundle(tmp_path, "./wheels/missing-0.1.0-py3-none-any.whl\n"))
    queued = world.client.post(
        f"{ADMIN_API}/{v['algorithm_id']}/versions/{v['id']}/rebuild", headers=world.admin
    )
    assert queued.status_code == 200
    drain(world.services)
    page = build_log(world, v)
    assert page["finished"] and page["build"]["phase"] == "failed"
    text = "\n".join(x["line"] for x in page["items"])
    assert "missing-0.1.0" in text and "=== build failed" in text
    assert page["items"][-1]["phase"] == "failed"
    world.client.post(
        f"{ADMIN_API}/{v['algorithm_id']}/versions/{v['id']}/rebuild", headers=world.admin
    )
    drain(world.services)
    again = build_log(world, v)
    assert again["build"]["attempt"] == 2 and again["build"]["phase"] == "failed"
    assert [x["line"] for x in again["items"]].count(page["items"][0]["line"]) <= 1
    assert sum("=== building environment" in x["line"] for x in again["items"]) == 1


def test_cap_keeps_the_newest_lines_and_counts_the_rest(world: World) -> None:
    v = register(world, tiny_files_bundle())
    extra = 150
    with BuildRecorder(world.services.db, v["id"], flush_s=60) as rec:
        rec.phase(BuildPhase.CREATING)
        for i in range(MAX_BUILD_LOG_LINES + extra):
            rec.line(f"line {i}\n")
            if i % 700 == 0:
                assert rec.flush()  # several flushes: the trim runs on each
        rec.line("x" * (MAX_BUILD_LINE_CHARS * 3) + "\n")
        rec.phase(BuildPhase.FAILED)
    build = build_log(world, v)["build"]
    assert build["lines"] == MAX_BUILD_LOG_LINES + extra + 1
    assert build["dropped"] == extra + 1 and build["phase"] == "failed"
    kept: list[str] = []
    after = 0
    while page := build_log(world, v, after)["items"]:
        kept += [x["line"] for x in page]
        after = page[-1]["id"]
    assert len(kept) == MAX_BUILD_LOG_LINES
    assert kept[0] == f"line {extra + 1}" and kept[-2] == f"line {MAX_BUILD_LOG_LINES + extra - 1}"
    assert len(kept[-1]) <= MAX_BUILD_LINE_CHARS + 2  # cut


def tiny_files_bundle() -> bytes:
    return tar_gz(tiny_files("capped", requirements=""))


def test_a_version_never_queued_has_nothing_to_follow(world: World) -> None:
    v = register(world, tiny_files_bundle())
    assert build_log(world, v)["finished"] is True
    assert sse_events(world, lines_url(v, "stream")) == [("end", {})]


def test_a_build_the_database_refuses_to_record_still_builds(world: World, tmp_path: Path) -> None:
    code = tmp_path / "code"
    write_wheel(code / "wheels" / WHEEL)
    (code / "requirements.txt").write_text(f"./wheels/{WHEEL}\n")
    cache = world.services.algorithm_envs.cache
    digest = "sha256:" + "ab" * 32
    with BuildRecorder(world.services.db, "alv_no_such_version") as rec:  # the insert fails
        env = cache.ensure(digest, code, "requirements.txt", observer=rec)
    assert env.built and env.python.exists()
    assert "+ tinypkg==0.1.0" in cache.log(digest)  # the node's own log has it all
    with world.services.db.read() as conn:
        assert build_logs.progress(conn, "alv_no_such_version") is None
