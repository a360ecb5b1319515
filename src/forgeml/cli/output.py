"""CLI output: Rich tables for people, `--json` for machines, one error path with exit code 1."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from forgeml.client.errors import ApiError, NotConfigured
from forgeml.domain.errors import ForgeError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def emit(
    data: Any, as_json: bool, columns: Sequence[str] | None = None, title: str | None = None
) -> None:
    """Print `data` (a dict or a list of dicts) as JSON or as a table / key-value list."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()
        return
    if isinstance(data, list):
        cols = list(columns or (data[0].keys() if data else []))
        table = Table(title=title)
        cells = [[_cell(row.get(c)) for c in cols] for row in data]
        for i, c in enumerate(cols):
            if _is_id(c):
                # ids are for copying: never wrapped, cut or ellipsised, whatever the width
                width = max([len(c), *(len(r[i]) for r in cells)])
                table.add_column(c, no_wrap=True, min_width=width, overflow="ignore")
            else:
                table.add_column(c, overflow="fold")
        for row_cells in cells:
            table.add_row(*row_cells)
        console.print(table)
        return
    if isinstance(data, dict):
        for key in columns or data.keys():
            console.print(f"[bold]{key}[/bold]: {_cell(data.get(key))}")
        return
    console.print(data)


def _is_id(column: str) -> bool:
    return column == "id" or column.endswith("_id")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def fail(
    message: str, as_json: bool, code: str = "error", details: dict[str, Any] | None = None
) -> None:
    if as_json:
        sys.stdout.write(
            json.dumps({"error": {"code": code, "message": message, "details": details or {}}})
            + "\n"
        )
    else:
        err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def given(**options: Any) -> dict[str, Any]:
    """The options given on the command line (None: left out), e.g. the changes of an update."""
    return {k: v for k, v in options.items() if v is not None}


def verb(
    app: typer.Typer, name: str, columns: Sequence[str] | None = None
) -> Callable[[Callable[P, object]], Callable[P, None]]:
    """Register a command that returns what it shows: `emit` prints it (a table of `columns`, or
    JSON with --json) and `handle_errors` turns a failure into its message and exit code 1."""

    def register(fn: Callable[P, object]) -> Callable[P, None]:
        @functools.wraps(fn)
        def shown(*args: P.args, **kwargs: P.kwargs) -> None:
            emit(fn(*args, **kwargs), bool(kwargs.get("json_out", False)), columns)

        command = handle_errors(shown)
        app.command(name)(command)
        return command

    return register


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn SDK and domain errors into a message (or JSON envelope) and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("json_out", False))
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            fail(exc.message, as_json, exc.code, exc.details)
        except NotConfigured as exc:
            fail(str(exc), as_json, "not_configured")
        except ForgeError as exc:
            fail(exc.message, as_json, exc.code, exc.details)
        raise AssertionError("unreachable")

    return wrapper
