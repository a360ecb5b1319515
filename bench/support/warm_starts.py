"""The launcher alone, cold vs warm (no server, no database): `run_host` of a jailed one-host job
whose program imports torch, from the call to its first stdout line, rounds alternating.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.support.report import spread
from tests.integration.training_helpers import PYTHON, make_spec, wait_warm

from forgeml.training.launcher import run_host
from forgeml.training.spec import LogLine
from forgeml.training.warm_pool import WarmPool

SCRIPT = "import torch\nprint('first line', flush=True)\n"


def _once(spec: Any, pool: WarmPool | None) -> float:
    t0, first = time.perf_counter(), []

    def on_log(line: LogLine) -> None:
        if line.stream == "stdout" and not first:
            first.append((time.perf_counter() - t0) * 1000)

    run_host(spec, on_log=on_log, stop=threading.Event(), sandbox="required", warm_pool=pool)
    return first[0]


def launcher_starts(rounds: int, python: Path = PYTHON) -> dict[str, Any]:
    """ms to the first line, cold and warm (the pool refilled before each warm round)."""
    found: dict[str, list[float]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="forgeml-warm-") as tmp:
        pool = WarmPool(Path(tmp) / "pool", 1)
        try:
            for n in range(2 * rounds):
                folder = Path(tmp) / f"job-{n}"
                folder.mkdir()
                spec = replace(make_spec(folder, SCRIPT), python=python, volume_bytes=10 * 1024**3,
                               volume_gb=10)  # fmt: skip
                warm = n % 2 == 1
                if warm:
                    wait_warm(pool, spec.python, timeout_s=600)
                found["warm" if warm else "cold"].append(_once(spec, pool if warm else None))
        finally:
            pool.close()
    return {k: spread(v, 1) for k, v in found.items()}
