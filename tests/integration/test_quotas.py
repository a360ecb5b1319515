"""Tenant quotas and metering on both databases: the admin sets quotas, submit refuses hard
limits with the numbers, capacity quotas keep jobs Pending with the reason, real jobs leave
usage records that match their attempts to the second, budget alerts fire once at 80/100 %."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from forgeml.cli.progress import _job_line
from forgeml.db.engine import Database
from forgeml.db.events import events
from forgeml.db.jobs import job_attempts
from forgeml.db.usage import usage_records
from tests.integration import test_jobs_api
from tests.integration.test_portal_pages import HTML, sign_in
from tests.support.jobs import (
    JOBS,
    describe,
    job_body,
    register_algorithm,
    run_to_end,
    run_until,
    submit,
    upload_dataset,
)
from tests.support.world import World

API = "/api/v1"
# the job tests' fixtures: fast leases on the test database, an algorithm and a dataset of A
settings = test_jobs_api.settings
setup = test_jobs_api.setup


def set_quota(world: World, tenant_id: str, **body: Any) -> dict[str, Any]:
    resp = world.client.patch(f"{API}/tenants/{tenant_id}/quota", json=body, headers=world.admin)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def set_price(world: World, per_hour: float) -> None:
    body = {"name": "cpu.small", "cpus": 2, "memory_bytes": 4 * 1024**3, "price_per_hour": per_hour}
    resp = world.client.put(f"{API}/admin/resource-classes", json=body, headers=world.admin)
    assert resp.status_code == 200, resp.text


def refused(world: World, body: dict[str, Any]) -> dict[str, Any]:
    resp = world.client.post(JOBS, json=body, headers=world.a.h("member"))
    assert resp.status_code == 403, resp.text
    error = dict(resp.json()["error"])
    assert error["code"] == "quota_exceeded"
    return error


def test_admin_sets_quotas_tenant_reads_its_own_only(world: World) -> None:
    q = set_quota(
        world, world.a.id, max_concurrent_jobs=3, class_instances={"cpu.small": 4},
        monthly_budget=100, budget_hard_stop=True, storage_bytes=10_000,
    )  # fmt: skip
    assert q["max_concurrent_jobs"] == 3 and q["class_instances"] == {"cpu.small": 4}
    assert (q["monthly_budget"], q["budget_hard_stop"], q["currency"]) == (100, True, "USD")
    # storage stays the tenant's storage quota: one model, one value
    tenant = world.client.get(f"{API}/tenants/{world.a.id}", headers=world.admin).json()
    assert tenant["storage_quota_bytes"] == 10_000
    mine = world.client.get(f"{API}/tenants/{world.a.id}/quota", headers=world.a.h("viewer"))
    assert mine.status_code == 200 and mine.json() == q
    # absent fields stay, null lifts a limit
    q = set_quota(world, world.a.id, max_concurrent_jobs=None)
    assert q["max_concurrent_jobs"] is None and q["class_instances"] == {"cpu.small": 4}
    bad = world.client.patch(
        f"{API}/tenants/{world.a.id}/quota", json={"class_instances": {"gpu.huge": 1}},
        headers=world.admin,
    )  # fmt: skip
    assert bad.status_code == 422 and "unknown resource class" in bad.text


def test_submit_refuses_a_job_its_class_instances_quota_can_never_hold(
    world: World, setup: dict[str, Any]
) -> None:
    set_quota(world, world.a.id, class_instances={"cpu.small": 1})
    error = refused(
        world, job_body("big", setup["algo"], setup["ds"], resources={"instance_count": 2})
    )
    assert error["message"] == "instances quota for class cpu.small is 1: this job asks for 2"
    assert error["details"]["quota"] == "class_instances"
    set_quota(world, world.a.id, class_instances=None, max_concurrent_jobs=0)
    error = refused(world, job_body("none", setup["algo"], setup["ds"]))
    assert error["message"] == "concurrent jobs quota is 0: this tenant may not run jobs"
    # tenant B has no quota: its submissions are untouched
    v = register_algorithm(world, "b-algo")
    ds = upload_dataset(world, world.b.h(), "b-rows", {"x.csv": b"a\n1\n"})
    submit(world, world.b.h(), job_body("b-ok", v["id"], ds))


def test_budget_hard_stop_refuses_a_job_that_may_cost_past_the_budget(
    world: World, setup: dict[str, Any]
) -> None:
    set_price(world, 36.0)  # 0.01 per second and instance
    set_quota(world, world.a.id, monthly_budget=100, budget_hard_stop=True)
    body = job_body(
        "costly", setup["algo"], setup["ds"], resources={"instance_count": 2},
        stopping_condition={"max_runtime_s": 20_000},
    )  # fmt: skip
    error = refused(world, body)
    assert error["message"] == (
        "monthly budget 100.00 USD: 0.00 used, this job may cost up to 400.00"
    )
    assert error["details"] == {
        "quota": "monthly_budget", "limit": 100.0, "used": 0.0, "requested": 400.0,
        "currency": "USD",
    }  # fmt: skip
    # without the hard stop the budget only alerts
    set_quota(world, world.a.id, budget_hard_stop=False)
    submit(world, world.a.h("member"), body)


@pytest.mark.parametrize("quota", ["concurrent_jobs", "class_instances"])
def test_capacity_quota_keeps_the_next_job_pending_with_the_reason(
    world: World, setup: dict[str, Any], quota: str
) -> None:
    if quota == "concurrent_jobs":
        set_quota(world, world.a.id, max_concurrent_jobs=1)
        reason = "tenant quota: 1 of 1 concurrent jobs running"
    else:
        set_quota(world, world.a.id, class_instances={"cpu.small": 2})
        reason = "tenant quota: 2 of 2 cpu.small instances in use (this job needs 1)"
    first = submit(
        world, world.a.h("member"),
        job_body("first", setup["algo"], setup["ds"], resources={"instance_count": 2},
                 hyperparameters={"epochs": 1, "sleep": 600}),
    )  # fmt: skip
    run_until(world, first["id"], lambda j: j["secondary_status"] == "Training")
    second = submit(world, world.a.h("member"), job_body("second", setup["algo"], setup["ds"]))
    assert second["pending_reason"] == reason  # shown from the submit on
    runs = world.services.job_runs
    for _ in range(3):
        runs.tick()  # the runner has room, the claim skips the job
        runs.reconcile()  # the pending-reason pass keeps the quota's reason
    job = describe(world, world.a.h("viewer"), second["id"])
    assert (job["secondary_status"], job["pending_reason"]) == ("Pending", reason)
    listed = world.client.get(JOBS, headers=world.a.h("viewer")).json()["items"]
    assert {j["id"]: j["pending_reason"] for j in listed}[second["id"]] == reason
    shown_everywhere(world, job, reason)
    stop = world.client.post(f"{JOBS}/{first['id']}/stop", headers=world.a.h("member"))
    assert stop.status_code == 200, stop.text
    run_to_end(world, first["id"])
    assert run_to_end(world, second["id"])["status"] == "Completed"  # its turn came


def shown_everywhere(world: World, job: dict[str, Any], reason: str) -> None:
    """The CLI's --wait line and the portal's job page and list show the quota's reason."""
    assert reason in _job_line(None, job)  # type: ignore[arg-type]  # Pending: no SDK call
    c = sign_in(world.client, "tenant-admin@a.example.com")
    for path in ("/jobs", f"/jobs/{job['id']}"):
        page = c.get(path, headers=HTML)
        assert page.status_code == 200 and reason in page.text, path


def test_usage_records_match_the_attempts_and_budget_alerts_fire_once(
    world: World, setup: dict[str, Any], database: Database
) -> None:
    set_price(world, 3600.0)  # 1.00 per second and instance
    set_quota(world, world.a.id, monthly_budget=2.0)
    body = job_body("metered", setup["algo"], setup["ds"], resources={"instance_count": 2},
                    hyperparameters={"epochs": 2, "sleep": 1.2}, tags={"team": "vision"})  # fmt: skip
    done = run_to_end(world, submit(world, world.a.h("member"), body)["id"])
    assert done["status"] == "Completed"
    with database.engine.connect() as conn:
        [attempt] = conn.execute(
            sa.select(job_attempts).where(job_attempts.c.job_id == done["id"])
        ).mappings()
        [rec] = conn.execute(
            sa.select(usage_records).where(usage_records.c.job_id == done["id"])
        ).mappings()
    # billed from the program's start to the attempt's end: staging and queueing excluded
    assert attempt["starting_at"] < attempt["training_started_at"] == rec["training_started_at"]
    assert rec["ended_at"] == attempt["ended_at"]
    secs = round((attempt["ended_at"] - attempt["training_started_at"]).total_seconds())
    assert (rec["seconds"], rec["instance_seconds"]) == (secs, 2 * secs)
    assert (done["training_seconds"], done["billable_seconds"]) == (secs, 2 * secs)
    assert rec["amount"] == pytest.approx(2 * secs * 1.0)
    assert rec["tags"] == {"team": "vision"} and rec["resource_class"] == "cpu.small"
    # the job shows its time by phase; only the training phase is billed
    phases = done["phase_seconds"]
    assert list(phases) == ["queued", "building", "staging", "training", "uploading"]
    assert phases["training"] >= 2
    # 2 instances x >= 2.4 s at 1.00/s is past 100 % of 2.00: both alerts, once each
    again = run_to_end(world, submit(world, world.a.h("member"), {**body, "name": "m2"})["id"])
    assert again["status"] == "Completed"
    with database.engine.connect() as conn:
        alerts = conn.execute(
            sa.select(events.c.tenant_id, events.c.data)
            .where(events.c.type == "budget.threshold_reached")
            .order_by(events.c.seq)
        ).all()
    assert [(t, d["threshold_percent"]) for t, d in alerts] == [(world.a.id, 80), (world.a.id, 100)]
    # the hard stop refuses any new submission once 100 % is reached
    set_quota(world, world.a.id, budget_hard_stop=True)
    error = refused(world, {**body, "name": "m3", "stopping_condition": {"max_runtime_s": 1}})
    assert "(100 % reached)" in error["message"] and error["details"]["quota"] == "monthly_budget"
    report_and_export(world, rec["month"], 2 * secs * 1.0)


def report_and_export(world: World, month: str, first_amount: float) -> None:
    a = world.a.h("viewer")
    rep = world.client.get(f"{API}/tenants/{world.a.id}/usage", headers=a).json()
    [line] = rep["lines"]
    assert (line["key"], line["jobs"], rep["currency"]) == (month, 2, "USD")
    assert rep["total"] == pytest.approx(line["amount"]) and line["amount"] > first_amount
    by_tag = world.client.get(
        f"{API}/tenants/{world.a.id}/usage", params={"group_by": "tag"}, headers=a
    ).json()
    assert [x["key"] for x in by_tag["lines"]] == ["team=vision"]
    csv = world.client.get(f"{API}/tenants/{world.a.id}/usage/csv", headers=a)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.strip().splitlines()
    assert rows[0].startswith("tenant_id,job_id,job_name") and len(rows) == 3
    everyone = world.client.get(f"{API}/usage", headers=world.admin).json()
    assert [x["key"] for x in everyone["lines"]] == [world.a.id]
    # another tenant's usage looks missing
    for path in (f"{API}/tenants/{world.a.id}/usage", f"{API}/tenants/{world.a.id}/usage/csv"):
        assert world.client.get(path, headers=world.b.h()).status_code == 404
    assert world.client.get(f"{API}/usage", headers=world.b.h()).json()["lines"] == []
