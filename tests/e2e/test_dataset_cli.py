"""End to end on `forgeml up` (a real server process, file store): the dataset, platform-dataset
and grant verbs of the CLI, a folder and an archive upload, verified downloads, and an upload whose
client dies halfway (a raw socket closed mid-body) that nothing shows and the CLI then resumes.

The verbs run in-process through Typer's runner (same code, real HTTP to the server) because a
CLI process costs ~1.5 s to start; one call goes through the installed `forgeml` binary.
"""

from __future__ import annotations

import json
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from forgeml.cli.main import app
from forgeml.client.datasets import plan
from tests.e2e.test_up_and_cli import Server, free_port, start, stop
from tests.e2e.test_up_and_cli import cli as cli_process

API = "/api/v1"


def cli(env: dict[str, str], *args: str, ok: bool = True) -> Any:
    """Run one CLI verb with `--json` under `env` (FORGEML_URL/TOKEN); parse its output."""
    res = CliRunner().invoke(app, [*args, "--json"], env=env, catch_exceptions=False)
    assert (res.exit_code == 0) is ok, f"{args}: rc={res.exit_code} {res.output}"
    return json.loads(res.stdout) if res.stdout.strip() else None


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """One server for the module: starting `forgeml up` is the slow part."""
    import os

    home = tmp_path_factory.mktemp("dataset-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env["FORGEML_CONFIG_DIR"] = str(home / "cli-config")
    srv = start(home / "home", free_port(), env)
    yield srv, env
    if srv.proc.poll() is None:
        stop(srv)


def _tenant_env(srv: Server, env: dict[str, str], name: str) -> tuple[dict[str, str], str]:
    admin = {"Authorization": f"Bearer {srv.info['token']}"}
    with httpx.Client(base_url=srv.url, headers=admin) as h:
        tenant = h.post(f"{API}/tenants", json={"name": name}).json()
        user = h.post(
            f"{API}/users",
            json={
                "email": f"ann@{name}.example.com",
                "role": "tenant-admin",
                "tenant_id": tenant["id"],
            },
        ).json()
        token = h.post(f"{API}/tokens", json={"name": "cli", "user_id": user["id"]}).json()["token"]
    return {**env, "FORGEML_URL": srv.url, "FORGEML_TOKEN": token}, tenant["id"]


def _half_upload(url: str, token: str, path: str, body: bytes) -> None:
    """Send the headers and half the body, then close: a client killed mid-upload."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        head = (
            f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        s.sendall(head.encode() + body[: len(body) // 2])


def test_dataset_verbs_folder_archive_resume_download(
    up: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    srv, env = up
    tenant, _tenant_id = _tenant_env(srv, env, "acme")
    folder = tmp_path / "flowers"
    (folder / "img").mkdir(parents=True)
    (folder / "labels.csv").write_text("a,1\nb,2\n")
    (folder / "img" / "a.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    ds = cli(tenant, "dataset", "create", "flowers", "--description", "petals")
    v1 = cli(tenant, "dataset", "upload", "flowers", str(folder))
    assert v1["number"] == 1 and v1["file_count"] == 2

    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x/y.txt", "zipped")
    v2 = cli(tenant, "dataset", "upload", "flowers", str(archive), "--archive", "--prefix", "extra")
    assert v2["number"] == 2 and v2["file_count"] == 1

    # a client killed halfway: nothing visible, then the same command resumes the session
    (folder / "img" / "b.bin").write_bytes(b"\x07" * 3_000_000)
    decl = [f.decl() for f in plan([folder])]
    headers = {"Authorization": f"Bearer {tenant['FORGEML_TOKEN']}"}
    session = httpx.post(
        f"{srv.url}{API}/datasets/{ds['id']}/uploads", json={"files": decl}, headers=headers
    ).json()
    uid = session["version"]["id"]
    _half_upload(
        f"{srv.url}{API}/datasets/{ds['id']}/uploads/{uid}/files/img/b.bin",
        tenant["FORGEML_TOKEN"],
        "",
        (folder / "img" / "b.bin").read_bytes(),
    )
    state = httpx.get(f"{srv.url}{API}/datasets/{ds['id']}/uploads/{uid}", headers=headers).json()
    assert {f["state"] for f in state["files"]} == {"pending"}
    assert [v["number"] for v in cli(tenant, "dataset", "show", "flowers")["versions"]] == [2, 1]
    v3 = cli(tenant, "dataset", "upload", "flowers", str(folder))
    assert v3["id"] == uid and v3["number"] == 3 and v3["file_count"] == 3

    assert [d["name"] for d in cli_process(tenant, "dataset", "ls")] == ["flowers"]
    shown = cli(tenant, "dataset", "show", "flowers", "--version", "2", "--files")
    assert [f["path"] for f in shown["files"]] == ["extra/x/y.txt"]
    out = tmp_path / "out"
    got = cli(tenant, "dataset", "download", "flowers", str(out))
    assert got["verified"] and len(got["files"]) == 3
    for rel in ("labels.csv", "img/a.bin", "img/b.bin"):
        assert (out / rel).read_bytes() == (folder / rel).read_bytes()
    cli(tenant, "dataset", "download", "flowers", str(tmp_path / "o2"), "--version", "2")
    assert (tmp_path / "o2" / "extra" / "x" / "y.txt").read_text() == "zipped"
    usage = cli(tenant, "dataset", "usage")
    assert usage["committed_bytes"] > 4_000_000

    cli(tenant, "dataset", "show", "nope", ok=False)
    cli(
        tenant,
        "dataset",
        "upload",
        "flowers",
        str(archive),
        "--archive",
        "--prefix",
        "../x",
        ok=False,
    )
    cli(tenant, "dataset", "rm", "flowers")
    assert cli(tenant, "dataset", "ls") == []


def test_platform_dataset_and_grant_verbs(
    up: tuple[Server, dict[str, str]], tmp_path: Path
) -> None:
    srv, env = up
    tenant, tenant_id = _tenant_env(srv, env, "globex")
    admin = {**env, "FORGEML_URL": srv.url, "FORGEML_TOKEN": srv.info["token"]}
    data = tmp_path / "ref"
    data.mkdir()
    (data / "table.parquet").write_bytes(b"PAR1" * 100)
    ds = cli(admin, "platform-dataset", "create", "reference", "--schema-notes", "id:int")
    assert cli(admin, "platform-dataset", "upload", "reference", str(data))["number"] == 1
    assert cli(tenant, "platform-dataset", "ls") == []
    grant = cli(admin, "grant", "create", "reference", tenant_id, "--algorithm", "xgb")
    seen = cli(tenant, "platform-dataset", "ls")
    assert [d["id"] for d in seen] == [ds["id"]] and seen[0]["size_bytes"] == 400
    assert cli(tenant, "platform-dataset", "show", ds["id"])["schema_notes"] == "id:int"
    assert [g["id"] for g in cli(tenant, "grant", "ls")] == [grant["id"]]
    cli(tenant, "dataset", "download", ds["id"], str(tmp_path / "steal"), ok=False)
    cli(tenant, "grant", "revoke", grant["id"], ok=False)
    assert cli(admin, "grant", "revoke", grant["id"])["revoked_at"]
    assert cli(tenant, "platform-dataset", "ls") == []
    cli(admin, "platform-dataset", "rm", "reference")
    assert cli(admin, "platform-dataset", "ls") == []
