"""Skip-or-fail for tests whose real service is missing: skip locally, fail under CI=true."""

from __future__ import annotations

import os

import pytest


def service_missing(reason: str) -> None:
    """Call when a real dependency (PostgreSQL, SeaweedFS, bwrap, chromium...) is unavailable."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)
