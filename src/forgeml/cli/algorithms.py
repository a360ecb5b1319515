"""`forgeml algorithm ...`: register (packs a folder), list, show, deprecate, build logs, rebuild.

Algorithms and versions can be named by id (`alg_…`, `alv_…`) or by name and version string.
Platform admins see the registry; everyone else sees algorithm cards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from forgeml.cli.output import JsonOpt, console, emit, err_console, fail, handle_errors, verb
from forgeml.cli.progress import watch_build
from forgeml.client import Client
from forgeml.domain.algorithms import channel_hint

algorithm_app = typer.Typer(help="The algorithm registry.", no_args_is_help=True)

ADMIN_COLS = ["algorithm_id", "id", "name", "version", "status", "deprecated", "digest"]
CARD_COLS = ["algorithm_id", "id", "name", "version", "deprecated", "description", "environment"]
Alg = Annotated[str, typer.Argument(help="Algorithm id or name.")]
Ver = Annotated[str, typer.Argument(help="Version id or version string (e.g. 1.0.0).")]


def client() -> Client:
    return Client.from_env()


def _is_admin(c: Client) -> bool:
    return bool(c.me()["user"]["role"] == "platform-admin")


def _algorithm(c: Client, ref: str, admin: bool) -> dict[str, Any]:
    if ref.startswith("alg_"):
        return c.algorithms.get(ref) if admin else c.algorithms.card(ref, include_deprecated=True)
    found = (
        c.algorithms.list(name=ref)
        if admin
        else [a for a in c.algorithms.cards(include_deprecated=True) if a["name"] == ref]
    )
    if not found:
        fail(f"no algorithm named {ref!r}", False, "not_found")
    return found[0]


def _version_ids(c: Client, alg_ref: str, ver_ref: str) -> tuple[str, str]:
    alg = _algorithm(c, alg_ref, admin=True)
    for v in alg["versions"]:
        if ver_ref in (v["id"], v["version"]):
            return alg["id"], v["id"]
    fail(f"{alg['name']} has no version {ver_ref!r}", False, "not_found")
    raise AssertionError("unreachable")


def _flatten(algs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # `environment`: the variables a job may set (`train --env NAME=value`), from the card.
    return [
        {
            **v,
            "description": a["description"],
            "environment": ", ".join((v.get("card") or {}).get("environment") or {}),
        }
        for a in algs
        for v in a["versions"]
    ]


def _wait(c: Client, version: dict[str, Any], quiet: bool, log: bool = False) -> dict[str, Any]:
    if quiet:
        return c.algorithms.wait(version["algorithm_id"], version["id"])
    return watch_build(c, version, show_log=log)


@algorithm_app.command("register")
@handle_errors
def register(
    path: Annotated[Path, typer.Argument(exists=True, help="A folder or a .tar.gz bundle.")],
    build: Annotated[bool, typer.Option("--build", help="Build the environment now.")] = False,
    wait: Annotated[bool, typer.Option(help="With --build: wait until it is built.")] = True,
    log: Annotated[
        bool, typer.Option("--log", help="Show the build log's tail meanwhile.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Register an algorithm version (platform admins); a name+version is never overwritten
    (the very same bundle again answers the version registered before)."""
    with client() as c:
        if json_out:
            version = c.algorithms.register(path, build=build, exist_ok=True)
        else:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task(f"uploading {path.name}", total=None)
                version = c.algorithms.register(
                    path,
                    build=build,
                    exist_ok=True,
                    progress=lambda d, t: bar.update(task, completed=d, total=t),
                )
            if version.get("already_registered"):
                console.print(f"{version['name']} {version['version']}: this bundle is registered")
        if build and wait:
            version = _wait(c, version, quiet=json_out, log=log)
    emit(version, json_out, ["id", "algorithm_id", "name", "version", "digest", "status"])
    if version["status"] == "failed":
        fail(f"environment build failed:\n{version['failure_reason']}", json_out, "build_failed")


@algorithm_app.command("ls")
@handle_errors
def ls(
    deprecated: Annotated[
        bool, typer.Option("--deprecated", help="Include deprecated versions.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """List algorithm versions (admins: the registry; tenants: published cards)."""
    with client() as c:
        if _is_admin(c):
            rows = [v for v in _flatten(c.algorithms.list()) if deprecated or not v["deprecated"]]
            emit(rows, json_out, ADMIN_COLS)
        else:
            emit(_flatten(c.algorithms.cards(deprecated)), json_out, CARD_COLS)


@algorithm_app.command("show")
@handle_errors
def show(
    algorithm: Alg,
    version: Annotated[str | None, typer.Argument(help="Version id or string.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show an algorithm, or one version (admins: with manifest and status)."""
    with client() as c:
        admin = _is_admin(c)
        alg = _algorithm(c, algorithm, admin)
        if version is None:
            emit(alg if json_out else _flatten([alg]), json_out, ADMIN_COLS if admin else CARD_COLS)
            return
        match = [v for v in alg["versions"] if version in (v["id"], v["version"])]
        if not match:
            fail(f"{alg['name']} has no version {version!r}", json_out, "not_found")
        data = c.algorithms.version(alg["id"], match[0]["id"]) if admin else match[0]
    if not json_out:  # what each input expects, as the portal's Train form says it
        data = {**data, "channels": channel_lines(data.get("card") or {})}
    emit(data, json_out)


def channel_lines(card: dict[str, Any]) -> str:
    """`train* (CSV files ...); extra (...)`: `*` marks a required channel."""
    return (
        "; ".join(
            f"{name}{'*' if ch.get('required') else ''}: {channel_hint(ch)}"
            for name, ch in (card.get("channels") or {}).items()
        )
        or "none"
    )


def _change(verb: str, algorithm: str, version: str, json_out: bool) -> None:
    with client() as c:
        alg_id, ver_id = _version_ids(c, algorithm, version)
        data = getattr(c.algorithms, verb)(alg_id, ver_id)
    emit(data, json_out, ["id", "name", "version", "status", "deprecated"])


@algorithm_app.command("deprecate")
@handle_errors
def deprecate(algorithm: Alg, version: Ver, json_out: JsonOpt = False) -> None:
    """Hide a version from tenants and refuse new jobs with it."""
    _change("deprecate", algorithm, version, json_out)


@algorithm_app.command("undeprecate")
@handle_errors
def undeprecate(algorithm: Alg, version: Ver, json_out: JsonOpt = False) -> None:
    """Publish a deprecated version again."""
    _change("undeprecate", algorithm, version, json_out)


@verb(algorithm_app, "rebuild", ["id", "name", "version", "status", "failure_reason"])
def rebuild(
    algorithm: Alg,
    version: Ver,
    wait: Annotated[bool, typer.Option(help="Wait until it is built.")] = True,
    json_out: JsonOpt = False,
) -> object:
    """Build a failed (or never built) environment again."""
    with client() as c:
        alg_id, ver_id = _version_ids(c, algorithm, version)
        data = c.algorithms.rebuild(alg_id, ver_id)
        if wait:
            data = _wait(c, data, quiet=json_out)
    return data


@algorithm_app.command("build-log")
@handle_errors
def build_log(
    algorithm: Alg,
    version: Ver,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print the latest build's lines as they come.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the environment build log of a version (platform admins); with --follow, the
    latest build's lines until it ends."""
    with client() as c:
        alg_id, ver_id = _version_ids(c, algorithm, version)
        if follow:
            for line in c.algorithms.build_lines(alg_id, ver_id, follow=True):
                echo_line = json.dumps(line) if json_out else f"{line['phase']:<11} {line['line']}"
                typer.echo(echo_line)
            return
        text = c.algorithms.build_log(alg_id, ver_id)
    if json_out:
        emit({"version_id": ver_id, "log": text}, True)
    else:
        console.out(text, end="", highlight=False)
