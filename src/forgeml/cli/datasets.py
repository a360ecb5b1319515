"""`forgeml dataset …`, `forgeml platform-dataset …` and `forgeml grant …`, through the SDK.

Uploads and downloads show a Rich progress bar (on stderr, hidden with --json), resume what an
interrupted run left, and verify sha256.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from forgeml.cli.output import JsonOpt, emit, err_console, handle_errors, verb
from forgeml.client import Client

dataset_app = typer.Typer(
    help="Your datasets: create, upload, list, download.", no_args_is_help=True
)
platform_app = typer.Typer(help="Platform datasets (platform admins).", no_args_is_help=True)
grant_app = typer.Typer(help="Grants of platform datasets to tenants.", no_args_is_help=True)

DS_COLS = ["id", "name", "kind", "tenant_id", "description", "created_at"]
VERSION_COLS = ["number", "status", "file_count", "size_bytes", "digest", "committed_at"]
GRANT_COLS = ["id", "dataset_id", "tenant_id", "algorithms", "expires_at", "revoked_at"]
PLATFORM_COLS = ["id", "name", "size_bytes", "description", "versions"]

Paths = Annotated[list[Path], typer.Argument(help="Files and folders (a folder: its contents).")]
VersionOpt = Annotated[int | None, typer.Option("--version", "-v", help="Default: latest.")]
# The upload options, shared by tenant and platform datasets.
PrefixOpt = Annotated[str, typer.Option(help="Folder inside the version.")]
ArchiveOpt = Annotated[bool, typer.Option(help="PATHs are zip/tar(.gz) to unpack server-side.")]
DirectOpt = Annotated[bool, typer.Option(help="Presigned parts straight to S3.")]
SessionOpt = Annotated[str | None, typer.Option(help="Resume this upload session id.")]


def client() -> Client:
    return Client.from_env()


@contextmanager
def bar(
    label: str, quiet: bool
) -> Iterator[tuple[Callable[[int], None], Callable[[int, int], None]]]:
    """(advance, plan) callbacks driving one Rich byte-progress bar."""
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )
    task = progress.add_task(label, total=None)

    def plan(total: int, done: int) -> None:
        progress.update(task, total=total, completed=done)

    with progress:
        yield (lambda n: progress.advance(task, n)), plan


@dataclass(frozen=True)
class _Upload:
    """What `dataset upload` and `platform-dataset upload` were asked to do."""

    prefix: str
    archive: bool
    direct: bool
    session: str | None
    commit: bool


def _upload(ref: str, kind: str, paths: list[Path], up: _Upload, quiet: bool) -> dict[str, Any]:
    with client() as c:
        ds = c.datasets.find(ref, kind)
        if up.archive:
            return _upload_archives(c, ds["id"], paths, up)
        with bar("upload", quiet) as (advance, plan):
            return c.datasets.upload(
                ds["id"],
                list(paths),
                prefix=up.prefix,
                upload_id=up.session,
                direct=up.direct,
                commit=up.commit,
                progress=advance,
                on_plan=plan,
            )


def _upload_archives(c: Client, dataset_id: str, paths: list[Path], up: _Upload) -> dict[str, Any]:
    """Archives are unpacked server-side: one session, each archive put whole, then commit."""
    ds = c.datasets
    session = ds.session(dataset_id, up.session) if up.session else ds.open_upload(dataset_id)
    uid = session["version"]["id"]
    for p in paths:
        ds.put_archive(dataset_id, uid, p, up.prefix)
    return ds.commit(dataset_id, uid) if up.commit else ds.session(dataset_id, uid)


def _create_verb(app: typer.Typer, kind: str) -> None:
    """`create`, the same for tenant and platform datasets."""

    @verb(app, "create", DS_COLS)
    def create(
        name: str,
        description: Annotated[str, typer.Option()] = "",
        schema_notes: Annotated[str, typer.Option()] = "",
        json_out: JsonOpt = False,
    ) -> object:
        with client() as c:
            return c.datasets.create(
                name, kind=kind, description=description, schema_notes=schema_notes
            )


def _rm_verb(app: typer.Typer, kind: str | None) -> None:
    """`rm DATASET`: an id, or a name looked up among the datasets of `kind` (None: all)."""

    @verb(app, "rm")
    def rm(dataset: str, json_out: JsonOpt = False) -> object:
        with client() as c:
            ds = c.datasets.find(dataset, kind)
            c.datasets.delete(ds["id"])
        return {"deleted": ds["id"]}


def _show(c: Client, ref: str, kind: str | None) -> dict[str, Any]:
    ds = c.datasets.find(ref, kind)
    return {**c.datasets.get(ds["id"]), "versions": c.datasets.versions(ds["id"])}


# --- tenant datasets -------------------------------------------------------------------------


_create_verb(dataset_app, "tenant")


@dataset_app.command("upload")
@handle_errors
def dataset_upload(
    dataset: Annotated[str, typer.Argument(help="Dataset id or name.")],
    paths: Paths,
    prefix: PrefixOpt = "",
    archive: ArchiveOpt = False,
    direct: DirectOpt = False,
    session: SessionOpt = None,
    commit: Annotated[bool, typer.Option(help="Commit when all files arrived.")] = True,
    json_out: JsonOpt = False,
) -> None:
    """Upload files/folders as a new version (re-run to resume an interrupted upload)."""
    out = _upload(
        dataset, "tenant", paths, _Upload(prefix, archive, direct, session, commit), json_out
    )
    emit(out, json_out, VERSION_COLS if "number" in out else None)


@verb(dataset_app, "ls", DS_COLS)
def dataset_ls(json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.datasets.list("tenant")


@verb(dataset_app, "show")
def dataset_show(
    dataset: str,
    version: VersionOpt = None,
    files: Annotated[bool, typer.Option()] = False,
    json_out: JsonOpt = False,
) -> object:
    """A dataset and its versions; `--files` lists the files of one version."""
    with client() as c:
        out = _show(c, dataset, None)
        if files or version is not None:
            number = version or (out.get("latest_version") or {}).get("number")
            out["files"] = c.datasets.files(out["id"], int(number)) if number else []
    return out


@verb(dataset_app, "download")
def dataset_download(
    dataset: str,
    dest: Annotated[Path, typer.Argument(help="Folder to write into.")],
    version: VersionOpt = None,
    json_out: JsonOpt = False,
) -> object:
    """Download a version's files into DEST, verifying sha256 (re-run to resume)."""
    with client() as c:
        ds = c.datasets.find(dataset)
        with bar("download", json_out) as (advance, plan):
            paths = c.datasets.download(ds["id"], version, dest, progress=advance, on_plan=plan)
    return {"dataset_id": ds["id"], "files": [str(p) for p in paths], "verified": True}


_rm_verb(dataset_app, None)


@verb(dataset_app, "abort", VERSION_COLS)
def dataset_abort(dataset: str, session: str, json_out: JsonOpt = False) -> object:
    """Abort an open upload session (its bytes are deleted)."""
    with client() as c:
        ds = c.datasets.find(dataset)
        return c.datasets.abort(ds["id"], session)


@verb(dataset_app, "usage")
def dataset_usage(
    tenant: Annotated[str | None, typer.Option(help="Tenant id (platform admins).")] = None,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        return c.datasets.usage(tenant)


# --- platform datasets -----------------------------------------------------------------------


_create_verb(platform_app, "platform")


@verb(platform_app, "upload", VERSION_COLS)
def platform_upload(
    dataset: str,
    paths: Paths,
    prefix: PrefixOpt = "",
    archive: ArchiveOpt = False,
    direct: DirectOpt = False,
    session: SessionOpt = None,
    json_out: JsonOpt = False,
) -> object:
    return _upload(
        dataset, "platform", paths, _Upload(prefix, archive, direct, session, True), json_out
    )


@verb(platform_app, "ls", PLATFORM_COLS)
def platform_ls(json_out: JsonOpt = False) -> object:
    """Platform admins: every platform dataset; tenants: the ones granted to them."""
    with client() as c:
        return c.platform_datasets.list()


@verb(platform_app, "show")
def platform_show(dataset: str, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.platform_datasets.get(dataset)


_rm_verb(platform_app, "platform")


# --- grants ----------------------------------------------------------------------------------


@verb(grant_app, "create", GRANT_COLS)
def grant_create(
    dataset: Annotated[str, typer.Argument(help="Platform dataset id or name.")],
    tenant: Annotated[str, typer.Argument(help="Tenant name or id.")],
    algorithm: Annotated[list[str] | None, typer.Option(help="Limit to these algorithms.")] = None,
    expires_at: Annotated[str | None, typer.Option(help="ISO 8601 date-time.")] = None,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        ds = c.datasets.find(dataset, "platform")
        return c.grants.create(
            ds["id"],
            c.tenants.resolve(tenant),
            algorithms=algorithm or None,
            expires_at=expires_at,
        )


@verb(grant_app, "ls", GRANT_COLS)
def grant_ls(
    dataset: Annotated[str | None, typer.Option()] = None,
    tenant: Annotated[str | None, typer.Option()] = None,
    json_out: JsonOpt = False,
) -> object:
    with client() as c:
        dataset_id = c.datasets.find(dataset, "platform")["id"] if dataset else None
        tenant_id = c.tenants.resolve(tenant) if tenant else None
        return c.grants.list(dataset_id, tenant_id)


@verb(grant_app, "revoke", GRANT_COLS)
def grant_revoke(grant_id: str, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.grants.revoke(grant_id)
