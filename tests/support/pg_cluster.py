"""A private PostgreSQL 15 cluster for tests that restart their database (never the shared one).

initdb refuses root, so the cluster runs as the `postgres` user when we are root; it listens on
127.0.0.1 on a port of its own, with its socket in its own folder. `restart()` is a crash
(`pg_ctl stop -m immediate`) followed by a start on the same port and data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port

PG_BIN = Path(os.environ.get("FORGEML_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def cluster_problem() -> str | None:
    """None when a private cluster can be made here, else the reason."""
    if not (PG_BIN / "initdb").is_file():
        return f"PostgreSQL server binaries not found in {PG_BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb cannot run"
    return None


@dataclass
class PgCluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *cmd: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        res = subprocess.run(
            [*prefix, *cmd], capture_output=True, text=True, timeout=timeout, check=False
        )
        if res.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({res.returncode}): {res.stdout}{res.stderr}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_owner(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        # fsync=off survives a crash of the server process (the kernel keeps the pages); never
        # synchronous_commit=off: an immediate stop would lose commits a client saw succeed.
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._as_owner(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.root / "server.log"), "-o", opts, "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash: no checkpoint, clients cut at once."""
        self._as_owner(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster:
    """initdb and start on a free port (~2 s), in a fresh folder under /tmp: pytest's own temp
    folders are private to root, and the server runs as `postgres`."""
    cluster = PgCluster(root=Path(tempfile.mkdtemp(prefix="forgeml-pg-")), port=free_port())
    cluster.init()
    cluster.start()
    return cluster
