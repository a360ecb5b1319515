"""Two `forgeml server` replicas behind nginx (Debian's), one PostgreSQL, SeaweedFS and a worker:
a tenant journey (upload a dataset, submit, follow the log stream, download the model) passes
while each replica in turn is killed with SIGKILL and restarted. The client retries what a client behind
a load balancer retries (refused connections, 502/503/504; a job submit with its Idempotency-Key;
the log stream resumed after its last id), and after that no request failed."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.platform import ALGORITHM, JOBS, declare, model_files, new_tenant
from tests.faults.stack import DRAIN_S, Stack, wait_until
from tests.support.server import free_port
from tests.support.services import service_missing

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-store")]

RETRIED = (502, 503, 504)
NGINX_CONF = """
worker_processes 1;
error_log {root}/nginx-error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log {root}/nginx-access.log;
  client_body_temp_path {root}/nginx-body;
  proxy_temp_path {root}/nginx-proxy;
  fastcgi_temp_path {root}/nginx-fastcgi;
  uwsgi_temp_path {root}/nginx-uwsgi;
  scgi_temp_path {root}/nginx-scgi;
  upstream forgeml {{
    server 127.0.0.1:{a} max_fails=1 fail_timeout=2s;
    server 127.0.0.1:{b} max_fails=1 fail_timeout=2s;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    proxy_request_buffering off;   # uploads stream through
    proxy_buffering off;           # SSE lines reach the client as they are written
    proxy_read_timeout 300s;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_next_upstream error timeout http_502 http_503;
    location / {{ proxy_pass http://forgeml; }}
  }}
}}
"""


class Journey:
    """A tenant's client through the load balancer, retrying as such a client should; every
    request that still failed after its retries is kept in `failed`."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.failed: list[str] = []
        self.retries = 0

    def call(self, method: str, path: str, ok: tuple[int, ...], **kw: Any) -> httpx.Response:
        last = ""
        for _ in range(60):
            try:
                resp = self.http.request(method, path, **kw)
            except httpx.TransportError as exc:
                last = f"{method} {path}: {exc!r}"
            else:
                if resp.status_code not in RETRIED:
                    if resp.status_code not in ok:
                        self.failed.append(f"{method} {path}: {resp.status_code} {resp.text}")
                    return resp
                last = f"{method} {path}: {resp.status_code}"
            self.retries += 1
            time.sleep(0.5)
        self.failed.append(f"gave up: {last}")
        raise AssertionError(last)

    def create_dataset(self, name: str) -> str:
        # A create whose answer was lost comes back 409 on retry: the dataset is the one named.
        resp = self.call("POST", "/api/v1/datasets", (201, 409), json={"name": name})
        if resp.status_code == 201:
            return str(resp.json()["id"])
        page = self.call("GET", "/api/v1/datasets?limit=200", (200,)).json()
        return str(next(d["id"] for d in page["items"] if d["name"] == name))

    def upload(self, dataset: str, files: dict[str, bytes]) -> int:
        body = {"files": declare(files)}
        up = self.call("POST", f"/api/v1/datasets/{dataset}/uploads", (201,), json=body).json()
        base = f"/api/v1/datasets/{dataset}/uploads/{up['version']['id']}"
        for name, data in files.items():
            self.call("PUT", f"{base}/files/{name}", (200, 201), content=data)
        resp = self.call("POST", f"{base}/commit", (200, 201, 409))
        if resp.status_code == 409:  # the first commit went through before its answer was lost
            assert self.call("GET", base, (200,)).json()["version"]["status"] == "committed"
        return int(up["version"]["number"])

    def submit(self) -> str:
        body = {
            "name": f"journey-{secrets.token_hex(3)}",
            "algorithm": ALGORITHM,
            "input_data": {},  # the fault algorithm reads no channel
            "hyperparameters": {"steps": 100, "step-seconds": 0.25},
        }
        key = {"Idempotency-Key": secrets.token_hex(16)}  # the same key on every retry
        return str(self.call("POST", JOBS, (201,), json=body, headers=key).json()["id"])

    def follow(self, job_id: str) -> list[int]:
        """The job's log line ids from its SSE stream, resumed after the last id on a break."""
        seen: list[int] = []
        for _ in range(60):
            after = seen[-1] if seen else 0
            try:
                with self.http.stream(
                    "GET", f"{JOBS}/{job_id}/logs/stream?after={after}", timeout=120
                ) as resp:
                    if resp.status_code in RETRIED:
                        raise httpx.RemoteProtocolError(str(resp.status_code))
                    assert resp.status_code == 200, resp.read()
                    for line in resp.iter_lines():
                        if line.startswith("id:"):
                            seen.append(int(line.removeprefix("id:").strip()))
                        elif line.startswith("event: end"):
                            return seen
            except (httpx.TransportError, httpx.RemoteProtocolError):
                self.retries += 1
                time.sleep(0.5)
        self.failed.append(f"log stream of {job_id} never ended")
        return seen


@pytest.fixture
def replicas(s3_stack: Stack, tmp_path: Path) -> Iterator[dict[str, Any]]:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx is None:
        service_missing("nginx is not installed (make sysdeps installs Debian's nginx-light)")
    second_port = free_port()
    env = s3_stack.env(
        "server-2", FORGEML_LISTEN=f"127.0.0.1:{second_port}", FORGEML_SERVER__DRAIN_S=str(DRAIN_S)
    )
    second = s3_stack._spawn(["server"], "server-2.log", env)
    wait_until(lambda: _ready(second_port), 60, "the second replica to get ready")
    lb_port = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, a=s3_stack.port, b=second_port, port=lb_port))
    lb = subprocess.Popen(
        [nginx, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_until(lambda: _ready(lb_port), 30, "nginx to pass requests on")
    worker = s3_stack.start_worker("replicas")
    state = {"lb": f"http://127.0.0.1:{lb_port}", "second": second, "env": env, "port": second_port}
    yield state
    lb.terminate()
    lb.wait(10)
    Stack.kill(state["second"])
    Stack.kill(worker)
    s3_stack.workers.remove(worker)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_tenant_journey_survives_a_replica_killed_and_restarted(
    s3_stack: Stack, replicas: dict[str, Any]
) -> None:
    tenant = new_tenant(s3_stack)
    token = tenant.api.headers["Authorization"].removeprefix("Bearer ")
    client = Journey(replicas["lb"], token)
    files = {"train.csv": os.urandom(2 * 1024 * 1024), "more.bin": os.urandom(512 * 1024)}
    killer_done = threading.Event()

    def kill_and_restart() -> None:  # each replica dies once mid-journey and comes back
        time.sleep(2.0)
        Stack.kill(replicas["second"])
        time.sleep(2.0)
        replicas["second"] = s3_stack._spawn(["server"], "server-2.log", replicas["env"])
        wait_until(lambda: _ready(replicas["port"]), 60, "the restarted second replica")
        s3_stack.kill_server()
        time.sleep(2.0)
        s3_stack.start_server()
        killer_done.set()

    killer = threading.Thread(target=kill_and_restart)
    killer.start()
    dataset = client.create_dataset(f"journey-{secrets.token_hex(3)}")
    number = client.upload(dataset, files)
    job_id = client.submit()
    ids = client.follow(job_id)
    killer.join(120)
    assert killer_done.is_set(), "both replicas were killed and restarted during the journey"
    done = client.call("GET", f"{JOBS}/{job_id}", (200,)).json()
    assert done["secondary_status"] == "Completed", done
    listed = client.call("GET", f"{JOBS}/{job_id}/logs?limit=5000", (200,)).json()["items"]
    assert ids == [x["id"] for x in listed], "the resumed stream lost or repeated no line"
    for name, data in files.items():
        url = f"/api/v1/datasets/{dataset}/versions/{number}/files/{name}"
        got = client.call("GET", url, (200,), follow_redirects=True).content
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert "run.json" in model_files(tenant.api, job_id)
    assert client.failed == [], client.failed
    print(f"journey through 2 replicas: {client.retries} retries, 0 failed requests")
