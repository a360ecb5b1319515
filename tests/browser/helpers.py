"""Helpers of the browser tests: the test algorithm bundle, the platform handle, sign-in."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from forgeml.cli import output
from forgeml.cli.main import app
from tests.e2e.test_up_and_cli import Server

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct-horse-battery"
# `FORGEML_TEST_SCREENSHOTS=docs/screenshots pytest tests/browser` refreshes the docs' pictures;
# unset, no test writes into the working tree.
SCREENSHOTS_ENV = "FORGEML_TEST_SCREENSHOTS"

TRAIN_PY = '''\
"""A tiny training program following the SageMaker contract (stdlib only)."""
import argparse, json, os, time
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--lr", type=float, default=0.1)
args, _ = p.parse_known_args()
rows = 0
train = os.environ["SM_CHANNEL_TRAIN"]
for name in sorted(os.listdir(train)):
    with open(os.path.join(train, name)) as f:
        rows += max(0, sum(1 for _ in f) - 1)
print(f"read {rows} rows", flush=True)
loss = 1.0
for epoch in range(1, args.epochs + 1):
    loss *= 1 - args.lr
    print(f"epoch={epoch} loss={loss:.4f}", flush=True)
    time.sleep(0.7)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"rows": rows, "loss": loss}, f)
print("training done", flush=True)
'''

MANIFEST = """\
name: {name}
version: 1.0.0
description: Counts the rows of your CSV files and pretends to learn from them.
entry_point: train.py
hyperparameters:
  epochs: {{type: integer, default: 4, min: 1, max: 50, description: "passes over the data"}}
  lr: {{type: continuous, default: 0.1, min: 0.001, max: 0.9, description: "learning rate"}}
  optimizer: {{type: categorical, values: [sgd, adam], default: adam}}
channels:
  train: {{required: true, description: "CSV files with a header row"}}
  extra: {{required: false, description: "more rows, for example a platform dataset"}}
metrics:
  - {{name: "train:loss", regex: 'loss=([0-9.]+)'}}
resource_classes: [cpu.small]
"""


def bundle(name: str) -> bytes:
    """A tar.gz algorithm bundle with forgeml.yaml at its root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, text in (("forgeml.yaml", MANIFEST.format(name=name)), ("train.py", TRAIN_PY)):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Platform:
    server: Server
    admin_email: str
    admin_password: str
    admin_token: str
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    algorithm: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_token}", **kw.pop("headers", {})}
        r = httpx.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def user(self, key: str) -> str:
        return str(self.tenants[key]["email"])


def sign_in(page: Any, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/login" not in u)


def shot(page: Any, folder: Path | None, name: str) -> None:
    """A full-page screenshot into `folder` (the `screenshots` fixture), when one is asked for."""
    if folder is not None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def screenshot_folder() -> Path | None:
    raw = os.environ.get(SCREENSHOTS_ENV, "").strip()
    if not raw:
        return None
    folder = Path(raw).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cli_text(url: str, token: str, *args: str) -> str:
    """What `forgeml <args>` prints for a person (no --json), on one wide line per row."""
    width = output.console.width
    output.console.width = 400  # a table row stays on one line, whatever the test's terminal
    try:
        env = {"FORGEML_URL": url, "FORGEML_TOKEN": token}
        res = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        output.console.width = width
    assert res.exit_code == 0, f"{args}: rc={res.exit_code} {res.output}"
    return res.stdout
