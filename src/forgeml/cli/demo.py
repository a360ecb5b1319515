"""`forgeml demo`: seed a demo tenant, the example algorithms and data through the API."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from forgeml.cli.output import JsonOpt, console, emit, err_console, handle_errors
from forgeml.client import Client, profiles
from forgeml.client.errors import NotConfigured
from forgeml.domain.home import default_home


def admin_client(url: str | None, home: Path | None) -> Client:
    """FORGEML_URL/FORGEML_TOKEN, else the local `forgeml up` home's admin credentials file and
    the URL that server wrote into the same home."""
    if os.environ.get("FORGEML_TOKEN"):
        return Client.from_env()
    home = home or default_home()
    path = home / "admin-credentials.txt"
    if not path.exists():
        raise NotConfigured(f"set FORGEML_URL and FORGEML_TOKEN (no {path})")
    fields = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    url = url or os.environ.get("FORGEML_URL") or profiles.server_url(home) or profiles.DEFAULT_URL
    return Client(url, fields["token"])


def run_seed(client: Client, examples: Path | None, as_json: bool) -> None:
    from forgeml.demo import seed

    with console.status("Seeding the demo...") as status:

        def say(step: str) -> None:
            status.update(f"{step}...")
            if not as_json:
                err_console.print(f"  {step}", markup=False)

        result = seed.seed(client, examples=examples, say=say)
    if as_json:
        emit({**result.__dict__, "url": client.url}, True)
        return
    console.print(
        "[bold green]Demo ready.[/bold green] Algorithm environments build in the background."
    )
    for line in seed.next_steps(client.url, result):
        typer.echo(line)


@handle_errors
def demo(
    url: Annotated[
        str | None, typer.Option(help="Server URL (default: the local `forgeml up`).")
    ] = None,
    home: Annotated[Path | None, typer.Option(help="FORGEML_HOME of a local `forgeml up`.")] = None,
    examples: Annotated[Path | None, typer.Option(help="Folder of example algorithms.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Seed a demo tenant and user, register the examples, grant platform data, upload data."""
    with admin_client(url, home) as client:
        run_seed(client, examples, json_out)


def seed_when_up(url: str, token: str, as_json: bool) -> threading.Thread:
    """For `forgeml up --demo`: wait until the server answers, then seed in the background."""

    def work() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        try:
            with Client(url, token) as client:
                run_seed(client, None, as_json)
        except Exception as exc:  # the server keeps running; say what went wrong
            typer.echo(f"demo seeding failed: {exc}", err=True)

    thread = threading.Thread(target=work, name="forgeml-demo", daemon=True)
    thread.start()
    return thread
