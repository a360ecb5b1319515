"""Server-side commands: `up`, `server`, `worker`, `migrate`, `config show`, `admin bootstrap`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from forgeml.cli.output import JsonOpt, emit, handle_errors
from forgeml.client import profiles
from forgeml.config import Settings, unknown_variables
from forgeml.domain.errors import InvalidInput

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
admin_app = typer.Typer(
    help="Server-side administration (needs direct database access).", no_args_is_help=True
)


def load_settings(home: Path | None = None, **overrides: object) -> Settings:
    from forgeml import logs

    kw = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        kw["home"] = home
    unknown = unknown_variables(os.environ)
    if unknown:
        raise InvalidInput(
            f"unknown setting variable {', '.join(unknown)}: no setting has this name "
            "(`forgeml config show` lists them; nested ones are FORGEML_<SECTION>__<NAME>)",
            code="invalid_config",
            details={"unknown": unknown},
        )
    try:
        settings = Settings(**kw)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()]
        shown = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)
        raise InvalidInput(
            f"invalid configuration: {shown}", code="invalid_config", details={"errors": problems}
        ) from None
    logs.configure(settings.log_level, settings.log_format)
    return settings


HomeOpt = Annotated[Path | None, typer.Option("--home", help="FORGEML_HOME (default ~/.forgeml).")]


@handle_errors
def up(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    home: HomeOpt = None,
    demo: Annotated[bool, typer.Option("--demo", help="Also seed the demo data.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run everything in one process (API, portal, workers) on the embedded defaults."""
    from forgeml import main

    settings = load_settings(home, listen=f"{host}:{port}")
    main.prepare(settings)
    runtime = main.make_runtime(settings, serve_api=True, workers=True)
    created = main.bootstrap_admin(runtime.services)
    url = f"http://{host}:{port}"
    # later `forgeml …` runs with this home (FORGEML_HOME) find this server without --url
    profiles.write_server_state(settings.home, url)
    info = {
        "url": url,
        "home": str(settings.home),
        "admin_created": created is not None,
        "credentials_file": str(settings.home / main.CREDENTIALS_FILE),
    }
    if created is not None:
        info.update(email=created.user.email, password=created.password, token=created.token)
    if json_out:
        emit(info, True)
    else:
        # plain echo, not Rich: credentials must never be wrapped or styled
        typer.echo(f"ForgeML is up at {url}  (home: {settings.home})")
        if created is not None:
            typer.echo("Platform admin created; these credentials are shown once:")
            typer.echo(f"  e-mail:   {created.user.email}")
            typer.echo(f"  password: {created.password}")
            typer.echo(f"  token:    {created.token}")
        typer.echo(f"Admin credentials file (0600): {info['credentials_file']}")
        typer.echo(
            f"Try: curl {url}/healthz   |   API docs: {url}/api/v1/docs   |   Ctrl-C stops",
            err=False,
        )
    if demo:
        from forgeml.cli.demo import admin_client, seed_when_up

        with admin_client(url, settings.home) as admin:
            seed_when_up(url, str(admin.http.headers["Authorization"]).split(" ", 1)[1], json_out)
    main.run(runtime)


@handle_errors
def server(
    home: HomeOpt = None,
    listen: Annotated[str | None, typer.Option(help="host:port")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a stateless API/portal replica (production shape; run `forgeml migrate` first)."""
    from forgeml import main

    settings = load_settings(home, listen=listen)
    main.ensure_home(settings)
    main.run(main.make_runtime(settings, serve_api=True, workers=False))


@handle_errors
def worker(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Run the background loops (scheduler, runner, dispatcher) without the API."""
    from forgeml import main

    settings = load_settings(home)
    main.ensure_home(settings)
    main.run(main.make_runtime(settings, serve_api=False, workers=True))


@handle_errors
def migrate(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Upgrade the metadata database schema to the newest revision."""
    from forgeml.db import migrate as m
    from forgeml.db.engine import Database

    settings = load_settings(home)
    if settings.database_url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        before = m.current_revision(db)
        m.upgrade(db)
        emit({"from": before, "to": m.current_revision(db)}, json_out)
    finally:
        db.dispose()


@config_app.command("show")
@handle_errors
def config_show(home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """Print the effective configuration, secrets masked."""
    emit(load_settings(home).masked(), json_out)


@admin_app.command("bootstrap")
@handle_errors
def admin_bootstrap(
    email: Annotated[
        str, typer.Option(help="E-mail of the first platform admin.")
    ] = "admin@forgeml.local",
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create the first platform admin if none exists and print its token (shown once)."""
    from forgeml import main

    settings = load_settings(home)
    main.prepare(settings)
    services = main.build_services(settings)
    try:
        result = main.bootstrap_admin(services, email)
    finally:
        services.close()
    if result is None:
        from forgeml.cli.output import fail

        fail("a platform admin already exists; nothing created", json_out, "already_exists")
        return
    emit({"email": result.user.email, "password": result.password, "token": result.token}, json_out)
