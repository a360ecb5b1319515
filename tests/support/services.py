"""Skip-or-fail for tests whose real service or module is missing: skip locally, fail under CI=true."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def service_missing(reason: str) -> None:
    """Call when a real dependency (PostgreSQL, SeaweedFS, bwrap, chromium...) is unavailable."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


def require_module(name: str) -> ModuleType:
    """`pytest.importorskip` under the same rule: the module, or a skip (a failure under CI)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        service_missing(f"module {name} is not installed: {exc}")
        raise  # not reached: service_missing skips or fails
