"""`forgeml checkpoint ...`: tenant checkpoint locations (create, ls, show, files, download, rm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgeml.cli.output import JsonOpt, console, emit, handle_errors, verb
from forgeml.client import Client

checkpoint_app = typer.Typer(
    help="Checkpoint locations: what jobs restore from and sync into.", no_args_is_help=True
)
COLS = ["id", "name", "file_count", "size_bytes", "last_job_id", "updated_at"]
FILE_COLS = ["path", "size", "updated_at"]
Ref = Annotated[str, typer.Argument(help="location name or id")]


def client() -> Client:
    return Client.from_env()


@verb(checkpoint_app, "create", COLS)
def create(
    name: str, description: Annotated[str, typer.Option()] = "", json_out: JsonOpt = False
) -> object:
    """Create a location; name it in `forgeml job submit --checkpoint NAME`."""
    with client() as c:
        return c.checkpoints.create(name, description)


@verb(checkpoint_app, "ls", COLS)
def ls(json_out: JsonOpt = False) -> object:
    """List your checkpoint locations, newest first."""
    with client() as c:
        return c.checkpoints.list()


@verb(checkpoint_app, "show")
def show(ref: Ref, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.checkpoints.get(ref)


@verb(checkpoint_app, "files", FILE_COLS)
def files(
    ref: Ref,
    prefix: Annotated[str, typer.Option(help="only paths starting with this")] = "",
    json_out: JsonOpt = False,
) -> object:
    """Browse the files jobs left in a location."""
    with client() as c:
        return c.checkpoints.files(ref, prefix)


@verb(checkpoint_app, "download")
def download(
    ref: Ref,
    path: Annotated[str | None, typer.Argument(help="one file; all as .tar.gz if omitted")] = None,
    dest: Annotated[Path, typer.Option("--dest", "-o")] = Path("."),
    json_out: JsonOpt = False,
) -> object:
    """Download one file, or the whole location as a .tar.gz archive."""
    with client() as c:
        saved = (
            c.checkpoints.download_file(ref, path, dest)
            if path
            else c.checkpoints.download_archive(ref, dest)
        )
    return {"saved": str(saved), "bytes": saved.stat().st_size}


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
