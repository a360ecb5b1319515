"""`forgeml webhook ...` (subscriptions, delivery log, redelivery, ping) and `forgeml events`."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from forgeml.cli.output import JsonOpt, console, emit, given, handle_errors, verb
from forgeml.client import Client

webhook_app = typer.Typer(help="Webhooks: signed HTTP callbacks for events.", no_args_is_help=True)
events_app = typer.Typer(help="Platform events: types and the live stream.", no_args_is_help=True)

HOOK_COLS = ["id", "url", "events", "enabled", "failure_streak", "description", "created_at"]
DELIVERY_COLS = [
    "id",
    "event_type",
    "event_id",
    "state",
    "attempts",
    "last_status_code",
    "last_duration_ms",
    "last_error",
    "next_attempt_at",
]
EventOpt = Annotated[
    list[str] | None, typer.Option("--event", "-e", help="type or pattern (training_job.*)")
]


def client() -> Client:
    return Client.from_env()


TenantOpt = Annotated[str | None, typer.Option("--tenant", help="tenant name or id (admins)")]


def _tenant(c: Client, ref: str | None) -> str | None:
    return c.tenants.resolve(ref) if ref else None


@webhook_app.command("create")
@handle_errors
def create(
    url: str,
    event: EventOpt = None,
    description: Annotated[str, typer.Option()] = "",
    disabled: Annotated[bool, typer.Option("--disabled", help="create it disabled")] = False,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="tenant name or id (admins)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Subscribe URL to events (default: all); the signing secret is printed once."""
    with client() as c:
        data = c.webhooks.create(
            url,
            event or ["*"],
            description=description,
            enabled=not disabled,
            tenant_id=_tenant(c, tenant),
        )
    emit(data, json_out, [*HOOK_COLS, "secret"])
    if not json_out:
        console.print("[yellow]Store the secret now: it is not shown again.[/yellow]")


@verb(webhook_app, "ls", HOOK_COLS)
def ls(json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.webhooks.list()


@verb(webhook_app, "show", [*HOOK_COLS, "disabled_reason"])
def show(webhook_id: str, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.webhooks.get(webhook_id)


@verb(webhook_app, "update", HOOK_COLS)
def update(
    webhook_id: str,
    url: Annotated[str | None, typer.Option()] = None,
    event: EventOpt = None,
    description: Annotated[str | None, typer.Option()] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
    json_out: JsonOpt = False,
) -> object:
    """Change a webhook; `--enable` after fixing a receiver also resets its failure streak."""
    changes = given(url=url, events=event, description=description, enabled=enabled)
    with client() as c:
        return c.webhooks.update(webhook_id, **changes)


@verb(webhook_app, "rm")
def rm(webhook_id: str, json_out: JsonOpt = False) -> object:
    with client() as c:
        c.webhooks.delete(webhook_id)
    return {"deleted": webhook_id}


@verb(webhook_app, "rotate-secret", ["id", "url", "secret"])
def rotate_secret(webhook_id: str, json_out: JsonOpt = False) -> object:
    """Replace the signing secret (effective at once); the new one is printed once."""
    with client() as c:
        return c.webhooks.rotate_secret(webhook_id)


@verb(webhook_app, "deliveries", DELIVERY_COLS)
def deliveries(
    webhook_id: str,
    state: Annotated[str | None, typer.Option(help="pending|delivering|delivered|failed")] = None,
    json_out: JsonOpt = False,
) -> object:
    """The delivery log, newest first."""
    with client() as c:
        return c.webhooks.deliveries(webhook_id, state)


@verb(webhook_app, "redeliver", DELIVERY_COLS)
def redeliver(webhook_id: str, delivery_id: str, json_out: JsonOpt = False) -> object:
    """Send a delivery again (same event id, fresh retry window)."""
    with client() as c:
        return c.webhooks.redeliver(webhook_id, delivery_id)


@verb(webhook_app, "ping", [*DELIVERY_COLS, "last_response"])
def ping(
    webhook_id: str,
    wait: Annotated[float, typer.Option(help="seconds to wait for the outcome (0: don't)")] = 15,
    json_out: JsonOpt = False,
) -> object:
    """Send a `webhook.ping` event to this webhook and show how the delivery went."""
    with client() as c:
        d = c.webhooks.ping(webhook_id)
        deadline = time.monotonic() + wait
        # until the first attempt is over (a failed one leaves the delivery pending for retry)
        while (d["attempts"] == 0 or d["state"] == "delivering") and time.monotonic() < deadline:
            time.sleep(0.5)
            d = c.webhooks.delivery(webhook_id, d["id"])
    return d


@verb(events_app, "types", ["type", "version", "description"])
def types(json_out: JsonOpt = False) -> object:
    """Event types with their version (`--json` includes the data schemas)."""
    with client() as c:
        return c.events.types()


@events_app.command("tail")
@handle_errors
def tail(
    event: EventOpt = None,
    after: Annotated[int | None, typer.Option(help="replay events after this seq")] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="tenant name or id (admins)")
    ] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Follow events live (server-sent events); one JSON document per line with --json."""
    seen = 0
    with client() as c:
        for env in c.events.stream(types=event, after=after, tenant_id=_tenant(c, tenant)):
            if json_out:
                sys.stdout.write(json.dumps(env) + "\n")
                sys.stdout.flush()
            else:
                subject = env.get("subject") or {}
                console.print(
                    f"{env['seq']:>8} {env['time']} [bold]{env['type']}[/bold] "
                    f"{subject.get('id') or ''} {json.dumps(env['data'])}"
                )
            seen += 1
            if count is not None and seen >= count:
                return
