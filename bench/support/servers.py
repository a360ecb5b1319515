"""Real servers for the HTTP benches, each its own process on loopback: `forgeml up` (API, portal
and workers, as a user starts it) and the bare baseline app (bench/support/bare.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

FORGEML = str(Path(sys.executable).parent / "forgeml")
BARE = Path(__file__).resolve().parent / "bare.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}


def _wait_ready(url: str, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def forgeml_up(home: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str, int]]:
    """(url, platform admin token, pid) of a fresh `forgeml up` with its home in `home`."""
    port = free_port()
    proc = subprocess.Popen(
        [FORGEML, "up", "--port", str(port), "--home", str(home), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env or clean_env(),
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("}"):
            break
    info = json.loads("".join(lines))
    try:
        _wait_ready(f"{info['url']}/healthz", proc)
        yield info["url"], info["token"], proc.pid
    finally:
        _stop(proc)


@contextmanager
def bare_app(folder: Path) -> Iterator[tuple[str, int]]:
    """(url, pid) of the bare baseline app; uploads land in `folder`."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(BARE), "--port", str(port), "--dir", str(folder)],
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/bare/items?limit=1", proc)
        yield url, proc.pid
    finally:
        _stop(proc)
