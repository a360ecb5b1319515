"""`forgeml quota ...` and `forgeml usage ...` with `client.quotas`/`client.usage` against the
in-process app (both databases): the admin sets, the tenant reads, refusals exit 1."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from forgeml.cli import usage as cli_usage
from forgeml.cli.main import app
from forgeml.client import ApiError, Client
from tests.security.test_quota_tenant import b_usage
from tests.support.world import World

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def sdk(world: World, token: str) -> Client:
    return Client("http://testserver", token, transport=world.client._transport)


def test_cli_sets_and_shows_quotas_and_reports_usage(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = {"token": world.admin_token}
    monkeypatch.setattr(cli_usage, "client", lambda: sdk(world, who["token"]))

    def cli(*args: str, ok: bool = True, as_json: bool = True) -> Any:
        result = CliRunner().invoke(app, [*args, *(["--json"] if as_json else [])])
        assert (result.exit_code == 0) is ok, result.output
        lines = [ln for ln in result.stdout.splitlines() if not LOG_LINE.match(ln)]
        return json.loads("\n".join(lines)) if as_json else "\n".join(lines)

    q = cli("quota", "set", "tenant-b", "--jobs", "2", "--instances", "cpu.small=4",
            "--budget", "50", "--hard-stop")  # fmt: skip
    assert (q["max_concurrent_jobs"], q["class_instances"]) == (2, {"cpu.small": 4})
    assert (q["monthly_budget"], q["budget_hard_stop"]) == (50.0, True)
    q = cli("quota", "set", "tenant-b", "--clear", "jobs", "--no-hard-stop")
    assert (q["max_concurrent_jobs"], q["budget_hard_stop"], q["monthly_budget"]) == (
        None, False, 50.0,
    )  # fmt: skip
    b_usage(world)
    assert "b-secret-job" in cli("usage", "export", "--tenant", "tenant-b", as_json=False)
    who["token"] = world.b.tokens["viewer"]
    assert cli("quota", "show", "tenant-b")["monthly_budget"] == 50.0
    assert cli("quota", "set", "tenant-b", "--jobs", "99", ok=False)["error"]["code"] == (
        "forbidden"
    )
    rep = cli("usage", "report", "--by", "resource_class")
    assert [(x["key"], x["amount"]) for x in rep["lines"]] == [("cpu.small", 7.0)]
    assert "7.00 USD" in cli("usage", "report", as_json=False)
    with sdk(world, world.a.tokens["viewer"]) as c:
        assert c.usage.report()["lines"] == []
        with pytest.raises(ApiError) as err:
            c.usage.csv(world.b.id)
        assert err.value.status == 404
