"""Browser tests: the machine's Chromium driven by Playwright against a real `forgeml up`.

One server per session (temp home, free port); tenants, users and a small algorithm are set up
through the REST API, and every test signs in through the portal like a person would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import CHROMIUM, PASSWORD, Platform, bundle, screenshot_folder
from tests.e2e.test_up_and_cli import free_port, start, stop
from tests.support.services import service_missing


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        service_missing("chromium is not installed (make browserdeps)")
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


def _wait_ready(p: Platform, algorithm_id: str, version_id: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        v = p.api("GET", f"/admin/algorithms/{algorithm_id}/versions/{version_id}")
        if v["status"] == "ready":
            return
        assert v["status"] != "failed", v.get("failure_reason")
        time.sleep(0.5)
    raise AssertionError("the algorithm environment was not built in time")


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    if not os.path.exists(CHROMIUM):
        service_missing("chromium is not installed (make browserdeps)")
    root = tmp_path_factory.mktemp("browser")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env["FORGEML_CONFIG_DIR"] = str(root / "cli-config")
    # a known runner size on any machine: cpu.large (8 CPUs) can never run, two cpu.small fill it
    env["FORGEML_JOBS__RUNNER_CPUS"] = "4"
    server = start(root / "home", free_port(), env)
    creds = dict(
        line.split(": ", 1)
        for line in (root / "home" / "admin-credentials.txt").read_text().splitlines()
    )
    p = Platform(server, creds["email"], creds["password"], creds["token"])
    try:
        for key in ("a", "b"):
            t = p.api(
                "POST",
                "/tenants",
                json={"name": f"tenant-{key}", "display_name": f"Tenant {key.upper()}"},
            )
            email = f"alice@{key}.example.com"
            p.api(
                "POST",
                "/users",
                json={
                    "email": email,
                    "role": "tenant-admin",
                    "tenant_id": t["id"],
                    "password": PASSWORD,
                },
            )
            p.tenants[key] = {**t, "email": email}
        v = p.api(
            "POST",
            "/admin/algorithms?build=true",
            content=bundle("row-counter"),
            headers={"Content-Type": "application/gzip"},
        )
        _wait_ready(p, v["algorithm_id"], v["id"])
        p.algorithm = v
        yield p
    finally:
        if server.proc.poll() is None:
            stop(server)


@pytest.fixture(scope="session")
def screenshots() -> Path | None:
    """Where tests save pictures of the pages ($FORGEML_TEST_SCREENSHOTS), or None: no pictures."""
    return screenshot_folder()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "digits"
    d.mkdir()
    rows = "\n".join(f"{i},{i % 10}" for i in range(40))
    (d / "train.csv").write_text(f"pixel,label\n{rows}\n")
    (d / "more.csv").write_text("pixel,label\n1,1\n2,2\n")
    return d
