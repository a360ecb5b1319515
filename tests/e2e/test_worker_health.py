"""The health endpoint of a standalone worker: a real `forgeml worker` process answers /livez and
/readyz with its loops and stops cleanly on SIGTERM; a loop that keeps dying turns both 503.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.edge.drain import Drain
from forgeml.services.container import Services
from forgeml.serving import health_app
from forgeml.storage.memory import MemoryObjectStore
from forgeml.workers import base
from forgeml.workers.base import Loop, Supervisor
from tests.support.server import FORGEML, free_port


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env["FORGEML_HOME"] = str(tmp_path / "home")
    env["FORGEML_WORKER__HEALTH_LISTEN"] = f"127.0.0.1:{port}"
    return env


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker exited"
        try:
            return httpx.get(f"{url}/livez", timeout=2)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the worker's health endpoint did not answer")


def test_a_real_worker_reports_its_loops_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, port)
    subprocess.run([FORGEML, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([FORGEML, "worker"], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        live = _wait_up(url, proc)
        assert live.status_code == 200, live.text
        loops = live.json()["loops"]
        assert {"runner", "algorithm-builder", "dataset-gc", "store-sweep"} <= set(loops), loops
        assert all(h["alive"] for h in loops.values()), loops
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"loops": "ok", "database": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


class Dying(Loop):
    name = "dying"

    def tick(self) -> bool:
        raise SystemExit("a BaseException escapes the tick's retry: the thread dies")


class Idle(Loop):
    name = "idle"

    def tick(self) -> bool:
        return False


def test_a_loop_that_keeps_dying_turns_livez_and_readyz_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "MAX_RESTARTS", 0)  # the first death is fatal: no waiting
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    services = Services.build(Settings(home=tmp_path), db, MemoryObjectStore("t"))
    fatal: list[str] = []
    sup = Supervisor([Idle(), Dying()], on_fatal=fatal.append)
    sup.start()
    try:
        deadline = time.monotonic() + 30
        while not fatal and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fatal == ["dying"]
        with TestClient(health_app(services, sup, Drain())) as client:
            for path in ("/livez", "/readyz"):
                resp = client.get(path)
                assert resp.status_code == 503, resp.text
                assert resp.json()["checks"]["loops"] == "fatal: dying kept dying"
                assert resp.json()["loops"]["dying"]["alive"] is False
                assert resp.json()["loops"]["idle"]["alive"] is True
    finally:
        sup.stop(5)
        services.close()
