"""The production shape for fault tests: a private PostgreSQL cluster, an object store (SeaweedFS
or a file folder), `forgeml server` and `forgeml worker` as separate processes, killed for real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.pg_cluster import PgCluster
from tests.support.seaweedfs import SeaweedFS
from tests.support.server import free_port
from tests.support.threads import CheckedThread

FORGEML = str(Path(sys.executable).parent / "forgeml")
# Short leases and back-offs: a killed worker's job is re-claimed in seconds, not minutes.
JOB_ENV = {
    "FORGEML_JOBS__LEASE_S": "3",
    "FORGEML_JOBS__HEARTBEAT_S": "0.5",
    "FORGEML_JOBS__RECONCILE_S": "0.5",
    "FORGEML_JOBS__RETRY_BACKOFF_S": "0.5",
    "FORGEML_JOBS__RETRY_BACKOFF_CAP_S": "2",
    "FORGEML_JOBS__STOP_GRACE_S": "2",
    "FORGEML_JOBS__CHECKPOINT_INTERVAL_S": "0.5",
    "FORGEML_JOBS__LOG_FLUSH_S": "0.1",
    "FORGEML_JOBS__RUNNER_CPUS": "16",
    "FORGEML_JOBS__RUNNER_MEMORY_BYTES": str(64 * 1024**3),
}
DRAIN_S = 2.0  # the server's SIGTERM drain period (server.drain_s): short, but long enough to see


class Api(httpx.Client):
    """An HTTP client that remembers every 5xx it was answered (the suite reports them)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(base_url=base_url, headers=headers, timeout=30)
        self.errors: Counter[int] = Counter()
        self.event_hooks = {"response": [self._count]}

    def _count(self, resp: httpx.Response) -> None:
        if resp.status_code >= 500:
            self.errors[resp.status_code] += 1

    def ok(self, method: str, url: str, status: int | tuple[int, ...] = 200, **kw: Any) -> Any:
        resp = self.request(method, url, **kw)
        wanted = status if isinstance(status, tuple) else (status,)
        assert resp.status_code in wanted, f"{method} {url}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None


@dataclass
class Stack:
    root: Path
    pg: PgCluster
    storage_url: str
    s3: SeaweedFS | None = None
    port: int = field(default_factory=free_port)
    admin_token: str = ""
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    disk_problem: str | None = None  # why the store's disk cannot be filled here (no tmpfs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, role: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
        env.update(JOB_ENV)
        env.update(
            FORGEML_HOME=str(self.root / f"home-{role}"),
            FORGEML_CONFIG_FILE=str(self.root / "absent.toml"),
            FORGEML_DATABASE_URL=self.pg.url,
            FORGEML_STORAGE_URL=self.storage_url,
            FORGEML_SANDBOX="off",  # the jail is not under test; its start-up cost is
            FORGEML_ALGORITHM_ENVS_DIR=str(self.root / "envs"),
            FORGEML_LOG_FORMAT="json",
        )
        if self.s3 is not None:
            env.update(
                FORGEML_S3__ENDPOINT_URL=self.s3.endpoint_url,
                FORGEML_S3__ACCESS_KEY_ID=self.s3.access_key,
                FORGEML_S3__SECRET_ACCESS_KEY=self.s3.secret_key,
            )
        env.update(extra)
        return env

    def cli(self, *args: str) -> Any:
        res = subprocess.run(
            [FORGEML, *args, "--json"], env=self.env("admin"), capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert res.returncode == 0, f"{args}: {res.stdout} {res.stderr}"
        return json.loads(res.stdout)

    def prepare(self) -> None:
        """Migrate the private database and create the first platform admin."""
        self.cli("migrate")
        self.admin_token = str(self.cli("admin", "bootstrap")["token"])

    def _spawn(
        self, args: list[str], log_name: str, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        with (self.root / log_name).open("ab") as log:
            return subprocess.Popen(
                [FORGEML, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def start_server(self, wait: bool = True) -> subprocess.Popen[bytes]:
        env = self.env(
            "server", FORGEML_LISTEN=f"127.0.0.1:{self.port}", FORGEML_SERVER__DRAIN_S=str(DRAIN_S)
        )
        self.server = self._spawn(["server"], "server.log", env)
        if wait:
            self.wait_ready()
        return self.server

    def wait_ready(self, timeout_s: float = 60) -> float:
        """Wait for /readyz (database and store answer); the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            assert self.server is not None and self.server.poll() is None, self.log("server.log")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server never got ready\n{self.log('server.log')}")

    def start_worker(self, runner: str, **extra: str) -> subprocess.Popen[bytes]:
        env = self.env(f"worker-{runner}", FORGEML_JOBS__RUNNER_NAME=runner, **extra)
        proc = self._spawn(["worker"], f"worker-{runner}.log", env)
        self.workers.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, within_s: float = 60) -> int:
        """Signal the process (kill -9 by default) and reap it; its exit status.
        TimeoutExpired when it is still running `within_s` seconds later."""
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.wait(timeout=within_s)

    def kill_server(self) -> None:
        if self.server is not None:
            self.kill(self.server)

    def stop_workers(self) -> None:
        for proc in self.workers:
            self.kill(proc)
        self.workers.clear()

    def log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def admin(self) -> Api:
        return Api(self.url, self.admin_token)

    def close(self) -> None:
        self.stop_workers()
        self.kill_server()


def wait_until(pred: Callable[[], Any], timeout_s: float = 90, what: str = "condition") -> Any:
    """Poll `pred` until it returns something truthy; transport errors count as "not yet"."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if value := pred():
                return value
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.15)


class Probe:
    """A client polling one read route in a background thread during a fault: it counts what
    callers would have been answered (5xx by status) and when the route answered 200 again."""

    def __init__(self, api: Api, path: str, period_s: float = 0.2) -> None:
        self.api = Api(str(api.base_url), api.headers["Authorization"].split(" ", 1)[1])
        self.path = path
        self.period_s = period_s
        self.samples: list[tuple[float, bool]] = []  # (monotonic time, answered 200)
        self.unreachable = 0
        self._stop = threading.Event()
        self._thread = CheckedThread(target=self._run, daemon=True)

    @property
    def errors(self) -> Counter[int]:
        return self.api.errors

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                ok = self.api.get(self.path, timeout=5).status_code == 200
            except httpx.TransportError:
                ok = False
                self.unreachable += 1
            self.samples.append((time.monotonic(), ok))

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self._thread.join(10)  # a probe that crashed fails the test
        finally:
            self.api.close()

    def failed(self) -> int:
        return sum(not ok for _, ok in self.samples)

    def serving_after(self, moment: float, timeout_s: float = 60) -> float:
        """Seconds from `moment` (a fault's end) to the first 200 after the last failure."""

        def recovered() -> float | None:
            samples = list(self.samples)
            last_bad = max((t for t, ok in samples if not ok), default=moment)
            good = [t for t, ok in samples if ok and t > max(last_bad, moment)]
            return good[0] if good else None

        return float(wait_until(recovered, timeout_s, "the API serving again")) - moment
