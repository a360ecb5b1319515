"""The production shape for benches: `forgeml server` and `forgeml worker` as separate processes
on a private PostgreSQL database (created for the run, dropped after) and a file store in a
shared home, the schema migrated and the first platform admin bootstrapped by the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from bench.support.servers import FORGEML, _stop, _wait_ready, clean_env, free_port

# The machine's shared PostgreSQL; the bench only ever creates and drops its own database.
PG_ADMIN_URL = os.environ.get(
    "FORGEML_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Production:
    url: str
    admin_token: str
    database_url: str
    server_pid: int
    worker_pid: int
    home: Path


@contextmanager
def private_database(prefix: str = "fmlbench") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cli(env: dict[str, str], *args: str) -> dict[str, str]:
    res = subprocess.run(
        [FORGEML, *args, "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    if res.returncode != 0:
        raise RuntimeError(f"forgeml {' '.join(args)}: {res.stdout} {res.stderr}")
    return dict(json.loads(res.stdout))


def _spawn(env: dict[str, str], command: str, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(
            [FORGEML, command], stdout=out, stderr=subprocess.STDOUT, env=env, text=True
        )


@contextmanager
def production(home: Path, **settings: str) -> Iterator[Production]:
    """Server and worker of one deployment; `settings` are extra FORGEML_* variables."""
    port = free_port()
    with private_database() as database_url:
        env = clean_env()
        env.update(
            FORGEML_HOME=str(home),
            FORGEML_DATABASE_URL=database_url,
            FORGEML_LISTEN=f"127.0.0.1:{port}",
            FORGEML_LOG_FORMAT="json",
            FORGEML_LOG_LEVEL="WARNING",  # the request log of a load run is noise here
            **{f"FORGEML_{k.upper()}": v for k, v in settings.items()},
        )
        home.mkdir(parents=True, exist_ok=True)
        _cli(env, "migrate")
        token = _cli(env, "admin", "bootstrap", "--email", "bench@example.com")["token"]
        server = _spawn(env, "server", home / "server.log")
        worker = _spawn(env, "worker", home / "worker.log")
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(f"{url}/healthz", server)
            yield Production(url, token, database_url, server.pid, worker.pid, home)
        finally:
            for proc in (worker, server):
                with suppress(ProcessLookupError):
                    _stop(proc)
