"""Folders shared by every xdist worker of one test run (slow builds such as the torch env happen once).

Under xdist each worker's base temp is `pytest-N/popen-gwK`; the run's shared folder is their parent.
Without xdist the base temp itself is the run's own folder. Users must serialise writers themselves
(the environment cache does, with `fcntl.flock`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def run_shared_dir(factory: pytest.TempPathFactory, name: str) -> Path:
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / name
    path.mkdir(exist_ok=True)
    return path
