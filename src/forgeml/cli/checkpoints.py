"""`forgeml checkpoint ...`: tenant checkpoint locations (create, ls, show, files, download, rm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeml.cli.output import JsonOpt, console, emit, handle_errors
from forgeml.client import Client

checkpoint_app = typer.Typer(
    help="Checkpoint locations: what jobs restore from and sync into.", no_args_is_help=True
)
COLS = ["id", "name", "file_count", "size_bytes", "last_job_id", "updated_at"]
FILE_COLS = ["path", "size", "updated_at"]
Ref = Annotated[str, typer.Argument(help="location name or id")]


def client() -> Client:
    return Client.from_env()


@checkpoint_app.command("create")
@handle_errors
def create(
    name: str, description: Annotated[str, typer.Option()] = "", json_out: JsonOpt = False
) -> None:
    """Create a location; name it in `forgeml job submit --checkpoint NAME`."""
    with client() as c:
        emit(c.checkpoints.create(name, description), json_out, COLS)


@checkpoint_app.command("ls")
@handle_errors
def ls(json_out: JsonOpt = False) -> None:
    """List your checkpoint locations, newest first."""
    with client() as c:
        emit(c.checkpoints.list(), json_out, COLS)


@checkpoint_app.command("show")
@handle_errors
def show(ref: Ref, json_out: JsonOpt = False) -> None:
    with client() as c:
        emit(c.checkpoints.get(ref), json_out)


@checkpoint_app.command("files")
@handle_errors
def files(
    ref: Ref,
    prefix: Annotated[str, typer.Option(help="only paths starting with this")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Browse the files jobs left in a location."""
    with client() as c:
        emit(c.checkpoints.files(ref, prefix), json_out, FILE_COLS)


@checkpoint_app.command("download")
@handle_errors
def download(
    ref: Ref,
    path: Annotated[str | None, typer.Argument(help="one file; all as .tar.gz if omitted")] = None,
    dest: Annotated[Path, typer.Option("--dest", "-o")] = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Download one file, or the whole location as a .tar.gz archive."""
    with client() as c:
        saved = (
            c.checkpoints.download_file(ref, path, dest)
            if path
            else c.checkpoints.download_archive(ref, dest)
        )
    emit({"saved": str(saved), "bytes": saved.stat().st_size}, json_out)


@checkpoint_app.command("rm")
@handle_errors
def rm(ref: Ref, json_out: JsonOpt = False) -> None:
    """Delete a location and every file in it (refused while a job uses it)."""
    with client() as c:
        c.checkpoints.delete(ref)
    if json_out:
        emit({"deleted": ref}, True)
    else:
        console.print(f"deleted {ref}")
