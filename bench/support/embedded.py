"""An embedded ForgeML (API app + runner loop in this process, SQLite file, file store, sandbox
on when bwrap works) with a test world, for benches that submit real jobs.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from tests.support.algorithms import register, tar_gz  # noqa: E402
from tests.support.world import World, build_world  # noqa: E402

from forgeml.config import Settings  # noqa: E402
from forgeml.db import migrate  # noqa: E402
from forgeml.db.engine import Database  # noqa: E402
from forgeml.logs import configure  # noqa: E402
from forgeml.main import build_app, build_services  # noqa: E402
from forgeml.training import sandbox as sb  # noqa: E402
from forgeml.workers.runner import RunnerLoop  # noqa: E402

DEFAULT_ENVS = Path(tempfile.gettempdir()) / "forgeml-bench-envs"  # venvs survive runs
MANIFEST = """\
name: {name}
version: 1.0.0
entry_point: train.py
{requirements}channels:
  train: {{required: true}}
resource_classes: [cpu.small]
"""


@dataclass
class Embedded:
    world: World
    home: Path
    sandbox: str

    @property
    def services(self) -> Any:
        return self.world.services


@contextmanager
def embedded(envs: Path = DEFAULT_ENVS, **jobs: Any) -> Iterator[Embedded]:
    """`forgeml up` in one process: the runner loop runs in a thread, woken by submits."""
    mode = "required" if sb.self_test() is None else "off"
    configure("WARNING")  # keep the platform's request log out of the bench's JSON output
    with tempfile.TemporaryDirectory(prefix="forgeml-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        envs.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            home=home,
            sandbox=mode,
            log_format="json",
            log_level="WARNING",
            algorithm_envs_dir=envs,
            jobs={"runner_name": "bench", **jobs},
        )
        migrate.upgrade(Database(settings.database_url))
        services = build_services(settings)
        stop = threading.Event()
        loop = threading.Thread(target=RunnerLoop(services.job_runs).run, args=(stop,))
        with TestClient(build_app(services)) as client:
            world = build_world(client, services)
            loop.start()
            try:
                yield Embedded(world, home, mode)
            finally:
                stop.set()
                services.job_runs.wake.set()
                loop.join(60)
                services.close()


def register_script(world: World, name: str, script: str, requirements: str = "") -> str:
    files = {
        "forgeml.yaml": MANIFEST.format(
            name=name, requirements="requirements: requirements.txt\n" if requirements else ""
        ),
        "train.py": textwrap.dedent(script),
    }
    if requirements:
        files["requirements.txt"] = requirements
    return str(register(world, tar_gz(files))["id"])


def wait_terminal(world: World, job_id: str, timeout_s: float = 600.0) -> dict[str, Any]:
    from forgeml.domain.jobs import is_terminal

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = world.client.get(f"/api/v1/training-jobs/{job_id}", headers=world.admin).json()
        if is_terminal(job["secondary_status"]):
            return dict(job)
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not end in {timeout_s}s")
