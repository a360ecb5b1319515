"""`forgeml quota show|set TENANT` (platform admins set) and `forgeml usage` (reports, CSV)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from forgeml.cli.output import JsonOpt, emit, handle_errors, verb
from forgeml.client import Client

quota_app = typer.Typer(help="Tenant quotas (platform admins set them).", no_args_is_help=True)
usage_app = typer.Typer(help="Compute usage in money.", no_args_is_help=True)

TenantArg = Annotated[str, typer.Argument(help="Tenant name or id.")]
TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="tenant name or id (default: all you see)")
]
MonthOpt = Annotated[str | None, typer.Option("--month", help="YYYY-MM (UTC)")]
QUOTA_COLS = [
    "tenant_id", "max_concurrent_jobs", "class_instances", "monthly_budget", "currency",
    "budget_hard_stop", "storage_bytes",
]  # fmt: skip
LINE_COLS = ["key", "jobs", "instance_seconds", "amount"]


def client() -> Client:
    return Client.from_env()


@verb(quota_app, "show", QUOTA_COLS)
def show(tenant: TenantArg, json_out: JsonOpt = False) -> object:
    with client() as c:
        return c.quotas.get(c.tenants.resolve(tenant))


def _class_limits(values: list[str]) -> dict[str, int]:
    out = {}
    for v in values:
        name, sep, n = v.partition("=")
        if not sep or not n.isdigit():
            raise typer.BadParameter(f"{v!r}: use CLASS=COUNT, e.g. cpu.small=4")
        out[name] = int(n)
    return out


@verb(quota_app, "set", QUOTA_COLS)
def set_quota(
    tenant: TenantArg,
    jobs: Annotated[int | None, typer.Option("--jobs", help="max concurrent jobs")] = None,
    instances: Annotated[
        list[str] | None, typer.Option("--instances", help="CLASS=COUNT, repeatable")
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="monthly budget")] = None,
    hard_stop: Annotated[
        bool | None, typer.Option("--hard-stop/--no-hard-stop", help="refuse at 100 %")
    ] = None,
    storage: Annotated[int | None, typer.Option("--storage-bytes")] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="lift a limit: jobs, instances, budget, storage"),
    ] = None,
    json_out: JsonOpt = False,
) -> object:
    """Change the given quotas; the others stay."""
    changes: dict[str, Any] = {}
    given = {"max_concurrent_jobs": jobs, "monthly_budget": budget, "storage_bytes": storage,
             "budget_hard_stop": hard_stop,
             "class_instances": _class_limits(instances) if instances else None}  # fmt: skip
    changes.update({k: v for k, v in given.items() if v is not None})
    names = {"jobs": "max_concurrent_jobs", "instances": "class_instances",
             "budget": "monthly_budget", "storage": "storage_bytes"}  # fmt: skip
    for item in clear or []:
        if item not in names:
            raise typer.BadParameter(f"--clear takes one of {', '.join(names)}")
        changes[names[item]] = None
    with client() as c:
        return c.quotas.update(c.tenants.resolve(tenant), **changes)


@usage_app.command("report")
@handle_errors
def report(
    tenant: TenantOpt = None,
    month: MonthOpt = None,
    by: Annotated[str, typer.Option("--by", help="month, resource_class, tag or tenant")] = "month",
    json_out: JsonOpt = False,
) -> None:
    """Jobs, instance-seconds and cost per group."""
    with client() as c:
        data = c.usage.report(c.tenants.resolve(tenant) if tenant else None, month=month,
                              group_by=by)  # fmt: skip
    if json_out:
        emit(data, True)
        return
    emit(data["lines"], False, LINE_COLS, title=f"usage in {data['currency']} by {by}")
    if data["total"] is not None:
        emit(f"total: {data['total']:.2f} {data['currency']}", False)


@usage_app.command("export")
@handle_errors
def export(tenant: TenantOpt = None, month: MonthOpt = None) -> None:
    """The usage records as CSV on stdout."""
    with client() as c:
        sys.stdout.write(c.usage.csv(c.tenants.resolve(tenant) if tenant else None, month=month))
