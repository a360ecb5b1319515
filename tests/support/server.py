"""Real `forgeml up` processes and CLI runs for end-to-end and browser tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

FORGEML = str(Path(sys.executable).parent / "forgeml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    home: Path
    info: dict[str, Any]


def start(home: Path, port: int, env: dict[str, str]) -> Server:
    # No shutdown drain period (readyz 503 for 5 s) and a short stop grace for running jobs
    # (a shutdown waits grace + 15 s for them to hand back) unless a test asks: stops stay fast.
    env = {"FORGEML_SERVER__DRAIN_S": "0", "FORGEML_JOBS__STOP_GRACE_S": "2", **env}
    proc = subprocess.Popen(
        [FORGEML, "up", "--port", str(port), "--home", str(home), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # the JSON document printed before serving
        lines.append(line)
        if line.startswith("}"):
            break
    info = json.loads("".join(lines))
    url = info["url"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(proc, url, home, info)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("forgeml up did not answer /healthz")


def stop(server: Server) -> int:
    server.proc.send_signal(signal.SIGTERM)
    return server.proc.wait(timeout=60)  # running jobs get stop grace + 15 s to hand back


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    e["FORGEML_CONFIG_DIR"] = str(tmp_path / "cli-config")
    e["FORGEML_HOME"] = str(tmp_path / "home")  # never the real ~/.forgeml
    return e


@pytest.fixture
def server(tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    srv = start(tmp_path / "home", free_port(), env)
    yield srv
    if srv.proc.poll() is None:
        stop(srv)


def cli(env: dict[str, str], *args: str, ok: bool = True) -> Any:
    res = subprocess.run(
        [FORGEML, *args, "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert (res.returncode == 0) is ok, f"{args}: rc={res.returncode} {res.stdout} {res.stderr}"
    return json.loads(res.stdout) if res.stdout.strip() else None
