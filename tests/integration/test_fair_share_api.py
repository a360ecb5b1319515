"""Fair share through the API: platform admins set a tenant's weight (validated), the claim
follows it, and `/metrics` shows queue depth, shares and the scheduler's histograms."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from forgeml.cli import identity as cli_identity
from forgeml.cli.main import app
from forgeml.client import Client
from forgeml.db.types import utcnow
from forgeml.queue import claims
from forgeml.queue.transitions import create
from tests.support.fairsim import job_values
from tests.support.world import World

API = "/api/v1"


def test_a_platform_admin_sets_the_weight_and_bad_weights_are_refused(world: World) -> None:
    c, tid = world.client, world.a.id
    assert c.get(f"{API}/tenants/{tid}", headers=world.admin).json()["weight"] == 1.0
    resp = c.patch(f"{API}/tenants/{tid}", json={"weight": 2.5}, headers=world.admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["weight"] == 2.5
    for bad in (0, -1, 1001, "lots", None, True):
        resp = c.patch(f"{API}/tenants/{tid}", json={"weight": bad}, headers=world.admin)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["error"]["code"] == "invalid_input"
    assert c.get(f"{API}/tenants/{tid}", headers=world.admin).json()["weight"] == 2.5


def test_metrics_show_queue_depth_shares_and_decision_latency(world: World) -> None:
    db = world.services.db
    with db.write() as conn:
        for i in range(3):
            create(conn, job_values(world.a.id, f"m{i}", utcnow()))
        r = claims.register_runner(
            conn, name="m", executor="local", cpus=2, memory_bytes=4 * 1024**3, gpu_indices=[]
        )
    with db.write() as conn:
        assert claims.claim(conn, r, 30) is not None
    text = world.client.get("/metrics").text
    name = 'tenant="tenant-a"'
    assert f'forgeml_queue_depth{{resource_class="cpu.small",{name}}} 2.0' in text, text
    assert f"forgeml_tenant_share{{{name}}} 1.0" in text  # its job holds the whole runner
    assert f"forgeml_tenant_weight{{{name}}} 1.0" in text
    assert "forgeml_scheduler_decision_seconds_count" in text
    assert "forgeml_job_pending_seconds_bucket" in text


def test_the_cli_sets_a_weight_and_refuses_one_out_of_range(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = Client("http://testserver", world.admin_token, transport=world.client._transport)
    monkeypatch.setattr(cli_identity, "client", lambda: sdk)
    done = CliRunner().invoke(app, ["tenant", "set-weight", world.b.id, "3", "--json"])
    assert done.exit_code == 0, done.output
    assert (
        world.client.get(f"{API}/tenants/{world.b.id}", headers=world.admin).json()["weight"] == 3
    )
    bad = CliRunner().invoke(app, ["tenant", "set-weight", world.b.id, "0"])
    assert bad.exit_code == 2, bad.output  # refused before any request
