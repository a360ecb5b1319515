"""End to end with real processes: `forgeml up` (file store, bwrap sandbox when available), the
CLI `job submit --wait` / `model download`, the SDK Estimator, and kill -9 of the server+runner
mid-job: after a restart the job completes through a retry exactly once, resuming a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from forgeml.client import Client, Estimator
from tests.e2e.test_up_and_cli import FORGEML, free_port, start, stop
from tests.integration.training_helpers import processes_with_marker
from tests.support.algorithms import tar_gz
from tests.support.jobs import MANIFEST, TRAIN

CSV = b"a,b,label\n1,2,0\n3,4,1\n"


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def prepare(url: str, admin_token: str, tag: str) -> dict[str, Any]:
    """Register the tiny algorithm, create tenant + user token, upload a dataset."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    files = {
        "forgeml.yaml": MANIFEST.format(
            name=f"e2e-{tag}", classes="[cpu.small]", distributed="true"
        ),
        "train.py": textwrap.dedent(TRAIN),
    }
    _ok(httpx.post(f"{url}/api/v1/admin/algorithms", content=tar_gz(files), headers=admin), 201)
    t = _ok(httpx.post(f"{url}/api/v1/tenants", json={"name": f"t-{tag}"}, headers=admin), 201)
    u = _ok(
        httpx.post(
            f"{url}/api/v1/users",
            json={"email": f"m@{tag}.example.com", "role": "member", "tenant_id": t["id"]},
            headers=admin,
        ),
        201,
    )
    tok = _ok(
        httpx.post(f"{url}/api/v1/tokens", json={"name": "t", "user_id": u["id"]}, headers=admin),
        201,
    )["token"]
    h = {"Authorization": f"Bearer {tok}"}
    ds = _ok(httpx.post(f"{url}/api/v1/datasets", json={"name": "rows"}, headers=h), 201)["id"]
    decl = [{"path": "rows.csv", "size": len(CSV), "sha256": hashlib.sha256(CSV).hexdigest()}]
    up = _ok(
        httpx.post(f"{url}/api/v1/datasets/{ds}/uploads", json={"files": decl}, headers=h), 201
    )["version"]["id"]
    r = httpx.put(f"{url}/api/v1/datasets/{ds}/uploads/{up}/files/rows.csv", content=CSV, headers=h)
    assert r.status_code in (200, 201), r.text
    assert httpx.post(f"{url}/api/v1/datasets/{ds}/uploads/{up}/commit", headers=h).status_code in (
        200,
        201,
    )
    return {"algo": f"e2e-{tag}:1.0.0", "token": tok, "ds": ds, "tenant": t["id"]}


def test_cli_submit_wait_download_and_estimator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env["FORGEML_CONFIG_DIR"] = str(tmp_path / "cli")
    srv = start(tmp_path / "home", free_port(), env)
    try:
        p = prepare(srv.url, srv.info["token"], "cli")
        user = {**env, "FORGEML_URL": srv.url, "FORGEML_TOKEN": p["token"]}
        res = subprocess.run(
            [FORGEML, "job", "submit", "cli-job", "-a", p["algo"], "-i", f"train={p['ds']}",
             "--hp", "epochs=2", "--wait", "--json"],
            capture_output=True, text=True, env=user, timeout=180,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        job = json.loads(res.stdout)
        assert job["status"] == "Completed"
        bad = subprocess.run(
            [FORGEML, "job", "submit", "cli-fail", "-a", p["algo"], "-i", f"train={p['ds']}",
             "--hp", "fail=yes", "--wait", "--json"],
            capture_output=True, text=True, env=user, timeout=180,
        )  # fmt: skip
        assert (
            bad.returncode == 1 and json.loads(bad.stdout)["failure_reason"] == "bad data in row 7"
        )
        dl = subprocess.run(
            [FORGEML, "model", "download", job["id"], "--to", str(tmp_path), "--json"],
            capture_output=True, text=True, env=user, timeout=60,
        )  # fmt: skip
        assert dl.returncode == 0, dl.stderr
        with tarfile.open(tmp_path / "model.tar.gz") as tar:
            assert "model.json" in tar.getnames()
        with Client(srv.url, p["token"]) as c:
            est = Estimator(c, algorithm=p["algo"], hyperparameters={"epochs": 1})
            fitted = est.fit({"train": p["ds"]}, wait=True, job_name="sdk-job", timeout_s=120)
            assert fitted.status == "Completed"
            assert any("epoch=0" in line for line in fitted.logs())
            assert fitted.model_data(tmp_path / "sdk-model.tar.gz").stat().st_size > 0
    finally:
        stop(srv)


def test_kill_9_of_the_runner_mid_job_completes_through_one_retry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env.update(
        FORGEML_JOBS__CHECKPOINT_INTERVAL_S="0.3",
        FORGEML_JOBS__HEARTBEAT_S="0.5",
        FORGEML_JOBS__RETRY_BACKOFF_S="0.5",
    )
    home = tmp_path / "home"
    srv = start(home, free_port(), env)
    p = prepare(srv.url, srv.info["token"], "kill")
    h = {"Authorization": f"Bearer {p['token']}"}
    marker = "0.4321"
    body = {
        "name": "survivor",
        "algorithm": p["algo"],
        "input_data": {"train": {"dataset_id": p["ds"]}},
        "hyperparameters": {"epochs": 12, "sleep": marker},
    }
    job = _ok(httpx.post(f"{srv.url}/api/v1/training-jobs", json=body, headers=h), 201)
    url = f"{srv.url}/api/v1/training-jobs/{job['id']}"
    deadline = time.monotonic() + 120
    while "epoch=3" not in httpx.get(f"{url}/logs", headers=h).text:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    gone = time.monotonic() + 15
    while processes_with_marker(marker) and time.monotonic() < gone:
        time.sleep(0.2)
    assert processes_with_marker(marker) == []  # no orphan survived the runner
    again = start(home, free_port(), env)
    try:
        url = f"{again.url}/api/v1/training-jobs/{job['id']}"
        deadline = time.monotonic() + 120
        while (d := _ok(httpx.get(url, headers=h)))["status"] == "InProgress":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert d["status"] == "Completed", d
        assert d["attempt"] == 2
        seen = [t["secondary_status"] for t in d["transitions"]]
        assert seen.count("Completed") == 1 and "Interrupted" in seen
        assert seen[seen.index("Interrupted") + 1] == "Starting"
        logs = httpx.get(f"{url}/logs?limit=5000", headers=h).json()["items"]
        assert any(x["text"].startswith("resumed from epoch") for x in logs)
        events = httpx.get(f"{url}/events", headers=h).json()
        assert [e["type"] for e in events].count("training_job.completed") == 1
        assert set(d["artifacts"]) == {"model.tar.gz", "output.tar.gz"}
    finally:
        stop(again)
