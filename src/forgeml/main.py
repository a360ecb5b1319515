"""Composition root: builds services, apps and workers from Settings and runs them.

`forgeml up` = `run(settings, serve_api=True, workers=True, bootstrap=True)` on the embedded
defaults; `forgeml server` and `forgeml worker` run one role each against shared backends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from forgeml import serving
from forgeml.api.app import create_app
from forgeml.config import Settings
from forgeml.db import migrate, wakeups
from forgeml.db.engine import Database
from forgeml.edge.drain import Drain
from forgeml.services.container import Services
from forgeml.services.identity.audit import Actor
from forgeml.services.identity.auth import BootstrapResult
from forgeml.serving import health_app
from forgeml.web.routes import portal_router
from forgeml.workers.algorithm_builder import AlgorithmBuilder
from forgeml.workers.base import Loop, Supervisor
from forgeml.workers.dataset_gc import DatasetGcLoop, StoreSweepLoop
from forgeml.workers.dispatcher import dispatcher_loops
from forgeml.workers.runner import RunnerLoop

log = structlog.get_logger("forgeml")
CREDENTIALS_FILE = "admin-credentials.txt"
EXIT_DEAD_LOOP = 70  # EX_SOFTWARE: a background loop kept dying
# Bundles stream in with their own limit (settings.algorithm_max_bundle_bytes → 413).
ALGORITHM_UPLOAD = r"^/api/v1/admin/algorithms/?$"
# Dataset files and archives stream into the object store (quota-checked, never buffered).
DATASET_UPLOAD = r"^/api/v1/datasets/[^/]+/uploads/[^/]+/(files/|archive$)"


def ensure_home(settings: Settings) -> None:
    """The home holds the database, objects and credentials: private to its owner (0700), and
    an embedded SQLite file 0600 before SQLite opens it (its -wal/-shm files copy that mode)."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.home.chmod(0o700)
    sqlite_file = settings.database_url.removeprefix("sqlite:///")
    if settings.database_url.startswith("sqlite:///") and sqlite_file != ":memory:":
        path = Path(sqlite_file)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        for extra in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if extra.exists():
                extra.chmod(0o600)


def build_services(settings: Settings) -> Services:
    from forgeml.storage.registry import open_store

    db = Database(settings.database_url)
    store = open_store(settings.storage_url, settings.s3)
    return Services.build(settings, db, store)


def build_app(services: Services, plane: str = "public", drain: Drain | None = None) -> FastAPI:
    return create_app(
        services,
        plane=plane,
        extra_routers=[portal_router()],
        unlimited_body=[ALGORITHM_UPLOAD, DATASET_UPLOAD],
        drain=drain,
    )


def build_loops(services: Services, hub: wakeups.Wakeups | None = None) -> list[Loop]:
    """The worker loops; with `hub`, the runner, builder and dispatchers wake on notifications
    (else they poll at the floor, `worker.wake_floor_s`)."""
    floor_s = services.settings.worker.wake_floor_s
    runner = RunnerLoop(services.job_runs, floor_s)
    builder = AlgorithmBuilder(services.algorithm_envs, floor_s=floor_s)
    dispatchers = dispatcher_loops(services, floor_s)
    if hub is not None:
        subscribed = [(wakeups.JOBS, runner), (wakeups.BUILDS, builder)]
        for channel, loop in [*subscribed, *((wakeups.EVENTS, d) for d in dispatchers)]:
            assert loop.wake is not None
            hub.subscribe(channel, loop.wake)
    return [runner, builder, *dispatchers, DatasetGcLoop(services), StoreSweepLoop(services)]


def bootstrap_admin(
    services: Services, email: str = "admin@forgeml.local"
) -> BootstrapResult | None:
    """Create the first platform admin; write its credentials to a 0600 file in the home."""
    result = services.auth.bootstrap(Actor(principal=None, source_ip="local"), email)
    if result is not None:
        path = services.settings.home / CREDENTIALS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                f"email: {result.user.email}\npassword: {result.password}\ntoken: {result.token}\n"
            )
    return result


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class Runtime:
    services: Services
    servers: list[uvicorn.Server]
    supervisor: Supervisor | None
    stopping: threading.Event
    drain: Drain
    drain_s: float = 0.0  # SIGTERM → readyz 503 this long before the listener closes
    wakeups: wakeups.Wakeups | None = None  # the LISTEN side; only a process with loops has one


def make_runtime(settings: Settings, *, serve_api: bool, workers: bool) -> Runtime:
    services = build_services(settings)
    servers: list[uvicorn.Server] = []
    stopping = threading.Event()
    drain = Drain()

    def halt(_loop: str) -> None:  # a loop keeps dying: stop everything, exit non-zero
        stopping.set()
        for server in servers:
            server.should_exit = True

    # The API process only sends notifications; the process with the loops listens for them.
    hub = wakeups.Wakeups(services.db.url) if workers else None
    supervisor = Supervisor(build_loops(services, hub), on_fatal=halt) if workers else None
    grace_s = settings.server.grace_s
    if serve_api:
        planes = [("public", settings.listen)]
        if settings.admin_listen:
            planes.append(("admin", settings.admin_listen))
        for plane, listen in planes:
            app = build_app(services, plane, drain)
            app.state.loops = supervisor  # /readyz reports a dead loop of this process
            servers.append(serving.make_server(app, *split_listen(listen), grace_s))
    elif supervisor is not None and settings.worker.health_listen:
        app = health_app(services, supervisor, drain)
        servers.append(serving.make_server(app, *split_listen(settings.worker.health_listen), 1))
    drain_s = settings.server.drain_s if serve_api else 0.0
    return Runtime(services, servers, supervisor, stopping, drain, drain_s, hub)


def run(runtime: Runtime) -> None:
    """Run servers and worker loops until SIGINT/SIGTERM, then stop cleanly: the API drains
    (docs/operations.md), then each loop ends after its current iteration."""
    if runtime.wakeups:
        runtime.wakeups.start()
    if runtime.supervisor:
        runtime.supervisor.start()
    _log_signals()
    try:
        if runtime.servers:
            _event_loop_runner()(serving.serve(runtime.servers, runtime.drain, runtime.drain_s))
            _log_signals()  # the event loop put the default handlers back: a late signal is noise
        else:
            _wait_for_signal(runtime.stopping)
    finally:
        if runtime.supervisor:
            # Long enough for a training program's stop grace, so a running attempt gives
            # itself up (Interrupted, retried) before the process exits; else its lease expires.
            runtime.supervisor.stop(runtime.services.settings.jobs.stop_grace_s + 15)
        if runtime.wakeups:
            runtime.wakeups.close()
        runtime.services.close()
        log.info("stopped")
    if runtime.supervisor and runtime.supervisor.fatal:
        # systemd / Kubernetes restart a process that exits non-zero; a half-dead one they keep.
        raise SystemExit(EXIT_DEAD_LOOP)


def _log_signals() -> None:
    for sig in serving.SIGNALS:
        signal.signal(sig, lambda signum, _frame: log.info("signal received", signal=signum))


def _event_loop_runner() -> Any:
    """uvloop when installed (uvicorn[standard] brings it): less overhead per request chunk."""
    try:
        import uvloop

        return uvloop.run
    except ImportError:  # pragma: no cover - the base install has it
        return asyncio.run


def _wait_for_signal(done: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def prepare(settings: Settings) -> None:
    """Create the home folder and bring the schema up to date."""
    ensure_home(settings)
    if settings.storage_url.startswith("file://"):
        objects = Path(settings.storage_url.removeprefix("file://"))
        objects.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()
