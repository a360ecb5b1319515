"""CPU per request of the API's routes called in-process on one event loop (no client, no socket):
ForgeML's app (SQLite, a tenant member's token) against the bare app, optionally under cProfile.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.support.bare import make_app
from fastapi.testclient import TestClient
from tests.support.world import build_world

from forgeml.config import Settings
from forgeml.db import migrate
from forgeml.db.engine import Database
from forgeml.logs import configure
from forgeml.main import build_app, build_services

App = Any
SORT = "cumulative"


@contextmanager
def forgeml_app() -> Iterator[tuple[App, str, dict[str, str]]]:
    """(app, member token, {target: path}) of a fresh SQLite ForgeML with 20 datasets."""
    configure("WARNING")  # the access log stays on (as served), its lines are dropped
    with tempfile.TemporaryDirectory(prefix="forgeml-bench-cpu-") as tmp:
        settings = Settings(home=Path(tmp), sandbox="off", log_format="json", log_level="WARNING")
        migrate.upgrade(Database(settings.database_url))
        services = build_services(settings)
        app = build_app(services)
        try:
            with TestClient(app) as client:
                world = build_world(client, services)
                token = world.a.tokens["member"]
                hdr = world.a.h("member")
                ids = [
                    client.post("/api/v1/datasets", json={"name": f"b-{i:02}"}, headers=hdr).json()
                    for i in range(20)
                ]
            yield app, token, paths(ids[7]["id"])
        finally:
            services.close()


def paths(dataset_id: str) -> dict[str, str]:
    return {
        "datasets.list": "/api/v1/datasets?limit=20",
        "datasets.get": f"/api/v1/datasets/{dataset_id}",
        "jobs.list": "/api/v1/training-jobs?limit=20",
    }


async def _call(app: App, path: str, token: str | None) -> int:
    raw_path, _, query = path.partition("?")
    headers = [(b"host", b"bench"), (b"accept", b"*/*")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status = [0]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    await app(scope, receive, send)
    return status[0]


async def cpu_ms(app: App, path: str, token: str | None, n: int) -> float:
    """CPU ms per request (all threads of the process) over `n` sequential calls."""
    for _ in range(20):  # warm-up: first-request imports, pools
        if (got := await _call(app, path, token)) != 200:
            raise RuntimeError(f"{path}: status {got}")
    start = time.process_time()
    for _ in range(n):
        await _call(app, path, token)
    return (time.process_time() - start) * 1000 / n


def measure(n: int, rounds: int, profile: str | None = None) -> dict[str, list[float]]:
    """Per target, CPU ms per request in each round (targets alternate within a round)."""
    out: dict[str, list[float]] = {}
    bare = make_app(Path(tempfile.gettempdir()))
    with forgeml_app() as (app, token, targets):
        runs = {"bare": (bare, "/bare/items?limit=20", None)}
        runs |= {k: (app, p, token) for k, p in targets.items()}

        async def main() -> None:
            for _ in range(rounds):
                for name, (a, p, t) in runs.items():
                    out.setdefault(name, []).append(await cpu_ms(a, p, t, n))
            if profile:
                a, p, t = runs[profile]
                print(await profiled(a, p, t, n))

        asyncio.run(main())
    return out


async def profiled(app: App, path: str, token: str | None, n: int) -> str:
    prof = cProfile.Profile()
    with inline_threads():
        prof.enable()
        for _ in range(n):
            await _call(app, path, token)
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats(SORT).print_stats(70)
    return buf.getvalue()


@contextmanager
def inline_threads() -> Iterator[None]:
    """Run thread-pool work inline while profiling, so cProfile sees it (one thread)."""
    import anyio.to_thread

    real = anyio.to_thread.run_sync

    async def inline(func: Any, *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync = real
