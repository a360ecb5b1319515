"""Helpers for launcher and sandbox tests: write a real script, build a spec, run it, scan /proc."""

from __future__ import annotations

import json
import os
import tarfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from forgeml.training.launcher import run_host
from forgeml.training.spec import ChannelSpec, EntryPoint, HostResult, HostSpec, LogLine
from forgeml.training.warm_pool import WarmPool

PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"


def make_spec(tmp: Path, script: str, *, name: str = "train.py", **overrides: Any) -> HostSpec:
    """A one-host spec whose code dir holds `script` and whose `train` channel holds one file."""
    code = tmp / "code"
    code.mkdir(exist_ok=True)
    (code / name).write_text(textwrap.dedent(script))
    train = tmp / "channel-train"
    train.mkdir(exist_ok=True)
    (train / "data.csv").write_text("1,2\n3,4\n")
    spec = HostSpec(
        job_name="job-1",
        host="algo-1",
        hosts=("algo-1",),
        instance_type="cpu.small",
        entry_point=EntryPoint("script", name),
        code_dir=code,
        python=PYTHON,
        work_root=tmp / "host-algo-1",
        hyperparameters={"epochs": "3", "lr": "0.01", "optimizer": "adam"},
        channels={"train": ChannelSpec(train, content_type="text/csv")},
        stop_grace_s=2.0,
    )
    return replace(spec, **overrides)


@dataclass
class Captured:
    lines: list[LogLine] = field(default_factory=list)

    def __call__(self, line: LogLine) -> None:
        self.lines.append(line)

    def text(self, stream: str | None = None) -> str:
        return "\n".join(x.text for x in self.lines if stream is None or x.stream == stream)


def run(
    spec: HostSpec,
    *,
    mode: str = "off",
    stop: threading.Event | None = None,
    **kwargs: Any,
) -> tuple[HostResult, Captured]:
    captured = Captured()
    result = run_host(spec, on_log=captured, stop=stop or threading.Event(), sandbox=mode, **kwargs)  # type: ignore[arg-type]
    return result, captured


def stop_when(captured: Captured, needle: str, stop: threading.Event) -> Callable[[LogLine], None]:
    """An on_log that sets `stop` once a line containing `needle` was seen."""

    def on_log(line: LogLine) -> None:
        captured(line)
        if needle in line.text:
            stop.set()

    return on_log


def processes_with_marker(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state not in {"Z", "X"}:
            found.append(int(entry.name))
    return found


def wait_warm(
    pool: WarmPool, python: Path = PYTHON, count: int = 1, timeout_s: float = 180
) -> None:
    """Make `python` hot in the pool and wait until `count` warm interpreters are ready."""
    pool.heat(python)
    deadline = time.monotonic() + timeout_s
    while pool.ready_count(python) < count:
        assert time.monotonic() < deadline, "no warm interpreter became ready"
        time.sleep(0.05)


def warm_started(captured: Captured) -> bool:
    """Did the run use a warm interpreter (its limits line says so)?"""
    return "start=warm" in captured.text("system")


def model_json(result: HostResult, name: str = "report.json") -> dict[str, Any]:
    """A JSON file the program wrote into /opt/ml/model, from the packed model artifact."""
    with tarfile.open(result.model_artifact) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return json.loads(member.read())  # type: ignore[no-any-return]
