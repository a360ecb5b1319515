"""Tenant, algorithm, dataset and job helpers over HTTP for the fault suite, and the checks every
scenario ends with: each job exactly once, in its expected status, with one attempt's artifacts.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from forgeml.domain.jobs import is_terminal
from tests.faults.stack import Api, Stack, wait_until
from tests.support.algorithms import tar_gz
from tests.support.jobs import FIXTURE_ALGORITHMS

JOBS = "/api/v1/training-jobs"
ALGORITHM = "fault-train:1.0.0"


@dataclass
class Tenant:
    api: Api
    id: str


def register_algorithm(admin: Api) -> None:
    """Register tests/fixtures/algorithms/fault-train once per stack (the same bundle again is
    an idempotent re-registration)."""
    folder = FIXTURE_ALGORITHMS / "fault-train"
    files: dict[str, bytes | str] = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    admin.ok("POST", "/api/v1/admin/algorithms", (200, 201), content=tar_gz(files))


def new_tenant(stack: Stack) -> Tenant:
    admin = stack.admin()
    tag = secrets.token_hex(4)
    t = admin.ok("POST", "/api/v1/tenants", 201, json={"name": f"faults-{tag}"})
    body = {"email": f"m@{tag}.example.com", "role": "member", "tenant_id": t["id"]}
    u = admin.ok("POST", "/api/v1/users", 201, json=body)
    tok = admin.ok("POST", "/api/v1/tokens", 201, json={"name": "t", "user_id": u["id"]})
    admin.close()
    return Tenant(api=Api(stack.url, tok["token"]), id=str(t["id"]))


def declare(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [
        {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        for p, b in files.items()
    ]


def new_upload(api: Api, files: dict[str, bytes]) -> tuple[str, str]:
    """A dataset and an open upload session declaring `files`: (dataset id, upload id)."""
    ds = api.ok("POST", "/api/v1/datasets", 201, json={"name": f"d-{secrets.token_hex(4)}"})
    up = api.ok("POST", f"/api/v1/datasets/{ds['id']}/uploads", 201, json={"files": declare(files)})
    return str(ds["id"]), str(up["version"]["id"])


def submit(api: Api, name: str, **hps: Any) -> str:
    body = {"name": name, "algorithm": ALGORITHM, "input_data": {}, "hyperparameters": hps}
    return str(api.ok("POST", JOBS, 201, json=body)["id"])


def try_submit(api: Api, name: str, **hps: Any) -> str | None:
    """Submit, or None while the platform answers 503 (an outage); other answers fail."""
    body = {"name": name, "algorithm": ALGORITHM, "input_data": {}, "hyperparameters": hps}
    resp = api.post(JOBS, json=body)
    if resp.status_code == 503:
        return None
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def describe(api: Api, job_id: str) -> dict[str, Any]:
    return dict(api.ok("GET", f"{JOBS}/{job_id}"))


def logs(api: Api, job_id: str) -> str:
    items = api.ok("GET", f"{JOBS}/{job_id}/logs?limit=5000")["items"]
    return "\n".join(x["text"] for x in items)


def wait_log(api: Api, job_id: str, text: str, timeout_s: float = 90) -> None:
    wait_until(lambda: text in logs(api, job_id), timeout_s, f"{text!r} in the logs of {job_id}")


def wait_done(api: Api, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll describe until the job is terminal; outages (503, refused connections) are waited out."""

    def terminal() -> dict[str, Any] | None:
        resp = api.get(f"{JOBS}/{job_id}")
        if resp.status_code != 200:
            return None
        job = dict(resp.json())
        return job if is_terminal(job["secondary_status"]) else None

    return dict(wait_until(terminal, timeout_s, f"job {job_id} to end"))


def model_files(api: Api, job_id: str) -> dict[str, bytes]:
    resp = api.get(f"{JOBS}/{job_id}/artifacts/model.tar.gz", follow_redirects=True)
    assert resp.status_code == 200, resp.text
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@dataclass
class Outcome:
    """What a scenario found for its jobs; the report's lost / duplicated / partial columns."""

    lost: int = 0
    duplicated: int = 0
    partial: int = 0

    def clean(self) -> bool:
        return self.lost == self.duplicated == self.partial == 0


def check_completed_once(api: Api, job_ids: list[str], outcome: Outcome) -> list[dict[str, Any]]:
    """Every job listed once and Completed once (one transition, one event), one `finished run=`
    in its final attempt's logs, and its model is that run's, whole (the blob has the declared
    size). Counts into `outcome`."""
    listed = [j["id"] for j in api.ok("GET", f"{JOBS}?limit=200")["items"]]
    jobs = []
    for job_id in job_ids:
        if listed.count(job_id) != 1:
            outcome.lost += listed.count(job_id) == 0
            outcome.duplicated += listed.count(job_id) > 1
            continue
        job = describe(api, job_id)
        jobs.append(job)
        if job["status"] != "Completed":
            outcome.lost += 1
            continue
        items = api.ok("GET", f"{JOBS}/{job_id}/logs?limit=5000")["items"]
        finished = [  # an earlier attempt fenced out while finishing may have trained too
            x["text"]
            for x in items
            if x["attempt"] == job["attempt"] and x["text"].startswith("finished run=")
        ]
        completions = [t["secondary_status"] for t in job["transitions"]].count("Completed")
        events = [e["type"] for e in api.ok("GET", f"{JOBS}/{job_id}/events")]
        if len(finished) != 1 or completions != 1 or events.count("training_job.completed") != 1:
            outcome.duplicated += 1
            continue
        files = model_files(api, job_id)
        run = finished[0].removeprefix("finished run=")
        mb = int(job["hyperparameters"].get("model-mb", 1))
        whole = len(files.get("blob.bin", b"")) == mb * 1024 * 1024
        if files.get("run.json") != f'{{"run": "{run}"}}'.encode() or not whole:
            outcome.partial += 1
    return jobs


def settle(seconds: float) -> None:
    """Let a fault's aftermath play out before checking (a late duplicate would show up)."""
    time.sleep(seconds)
