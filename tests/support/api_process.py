"""A `forgeml server` process (public and admin listeners) on a private PostgreSQL database, its
schema migrated and its first platform admin bootstrapped by the CLI, as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import FORGEML, free_port


@dataclass
class ApiProcess:
    proc: subprocess.Popen[bytes]
    public_url: str
    admin_url: str
    admin_token: str
    database_url: str
    log: Path


def _env(home: Path, database_url: str, public: int, admin: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env.update(
        FORGEML_HOME=str(home),
        FORGEML_DATABASE_URL=database_url,
        FORGEML_LISTEN=f"127.0.0.1:{public}",
        FORGEML_ADMIN_LISTEN=f"127.0.0.1:{admin}",
        FORGEML_LOG_FORMAT="json",
    )
    return env


def _cli_json(env: dict[str, str], *args: str) -> dict[str, str]:
    res = subprocess.run(
        [FORGEML, *args, "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, f"{args}: {res.stdout} {res.stderr}"
    return dict(json.loads(res.stdout))


def _wait_healthy(proc: subprocess.Popen[bytes], *urls: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        assert proc.poll() is None, f"forgeml server exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{pending[0]}/healthz", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    assert not pending, f"forgeml server did not answer {pending}: {log.read_text()[-2000:]}"


@contextmanager
def api_process(home: Path, database_url: str) -> Iterator[ApiProcess]:
    """Migrate, bootstrap the platform admin, run `forgeml server`; SIGTERM it afterwards."""
    public, admin = free_port(), free_port()
    env = _env(home, database_url, public, admin)
    _cli_json(env, "migrate")
    token = _cli_json(env, "admin", "bootstrap", "--email", "fuzz-root@example.com")["token"]
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([FORGEML, "server"], stdout=out, stderr=subprocess.STDOUT, env=env)
    public_url, admin_url = f"http://127.0.0.1:{public}", f"http://127.0.0.1:{admin}"
    try:
        _wait_healthy(proc, public_url, admin_url, log=log)
        yield ApiProcess(proc, public_url, admin_url, token, database_url, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


__all__ = ["ApiProcess", "api_process"]
