"""The real sagemaker-training toolkit, in a venv built once and cached, behind one worker process."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import service_missing

TOOLKIT = "sagemaker-training==5.1.4"
_PY = f"py{sys.version_info.major}.{sys.version_info.minor}"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "forgeml-tests"
VENV = CACHE / f"toolkit-venv-{TOOLKIT.split('==')[1]}-{_PY}"
WORKER = Path(__file__).with_name("toolkit_worker.py")
_INSTALL_TIMEOUT_S = 900


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _build(venv: Path) -> str | None:
    """Create the venv and install the toolkit; the reason it failed, or None."""
    shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted run
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [str(_python(venv)), "-m", "pip", "install", "--quiet", TOOLKIT],
    )
    for step in steps:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            return f"cannot install {TOOLKIT}: {done.stderr.strip()[-2000:]}"
    return None


def toolkit_venv() -> Path:
    """The cached venv with the toolkit, built under a lock (xdist workers share it)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    stamp = VENV / ".complete"
    with (CACHE / f"{VENV.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.is_file():
            problem = _build(VENV)
            if problem is not None:
                service_missing(problem)
            stamp.write_text(TOOLKIT)
    return VENV


class Toolkit:
    """One long-lived worker in the toolkit venv; every request is one JSON line each way."""

    def __init__(self, venv: Path) -> None:
        self.proc = subprocess.Popen(
            [str(_python(venv)), "-I", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home())},
        )

    def ask(self, request: dict[str, Any]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        assert "ok" in reply, f"the toolkit failed: {reply.get('error')}"
        return reply["ok"]

    def environment(self, base_dir: Path, environ: dict[str, str]) -> dict[str, Any]:
        return dict(self.ask({"base_dir": str(base_dir), "environ": environ}))

    def error_text(self, cmd: str, code: int, message: str, info: str | None) -> str:
        request = {"cmd": cmd, "code": code, "message": message, "info": info}
        return str(self.ask({"error": request}))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def toolkit() -> Iterator[Toolkit]:
    worker = Toolkit(toolkit_venv())
    yield worker
    worker.close()
