"""Admin pages in a real browser: every tenant's jobs with a tenant column, the tenants table's
columns under their headers, audit rows that say why a call failed and a filter by e-mail, and
usage in money (admin usage and jobs, the tenant's dashboard and job page)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from forgeml.client import Client
from forgeml.web.fmt import money
from tests.browser.helpers import PASSWORD, Platform, shot, sign_in

pytestmark = pytest.mark.browser
LONG = 120_000  # ms


def _tenant_client(platform: Platform, key: str) -> Client:
    login = httpx.post(
        f"{platform.url}/api/v1/auth/login",
        json={"email": platform.user(key), "password": PASSWORD, "mode": "token"},
    ).json()
    return Client(platform.url, login["token"])


def test_admin_and_tenant_see_jobs_cost_in_money(
    page: Page, platform: Platform, tmp_path: Path, screenshots: Path | None
) -> None:
    tenant = _tenant_client(platform, "a")
    (tmp_path / "rows.csv").write_text("x,label\n1,0\n")
    ds = tenant.datasets.create("rows-admin-view", kind="tenant")
    tenant.datasets.upload(ds["id"], [tmp_path])
    job = tenant.jobs.submit(
        {
            "name": "seen-by-admin",
            "algorithm": platform.algorithm["id"],
            "input_data": {"train": {"dataset_id": ds["id"]}},
            "hyperparameters": {"epochs": "1"},
            "resources": {"resource_class": "cpu.small", "instance_count": 1},
        }
    )
    done = tenant.jobs.wait(job["id"], timeout_s=120)
    assert done["status"] == "Completed" and done["billable_seconds"]
    sign_in(page, platform.url, platform.admin_email, platform.admin_password)
    page.goto(f"{platform.url}/admin/jobs")
    row = page.locator("#admin-jobs tr", has_text="seen-by-admin")
    expect(row.locator("td.tenant")).to_have_text("tenant-a")
    # cpu.small is priced 0.10 an hour by the default classes, in the default currency
    expect(row.locator("td.cost")).to_have_text(
        money(done["billable_seconds"] / 3600 * 0.10, "USD")
    )
    shot(page, screenshots, "admin-jobs")
    page.goto(f"{platform.url}/admin/usage")
    # every job of tenant-a ran on cpu.small
    billed = sum(j["billable_seconds"] or 0 for j in tenant.jobs.list())
    expected = money(billed / 3600 * 0.10, "USD")
    expect(page.locator("tr", has_text="tenant-a").locator("td.cost")).to_have_text(expected)
    shot(page, screenshots, "admin-usage")
    page.goto(f"{platform.url}/admin/resources")
    expect(page.get_by_role("columnheader", name="Price / hour (USD)")).to_be_visible()
    # the tenant sees the same money: on the job's page and the dashboard's month
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, platform.url, platform.user("a"))
    expect(page.locator("#compute-cost")).to_have_text(expected)
    page.goto(f"{platform.url}/jobs/{job['id']}")
    expect(page.locator("#job-cost")).to_have_text(
        money(done["billable_seconds"] / 3600 * 0.10, "USD")
    )


def test_tenants_table_cells_sit_under_their_headers(page: Page, platform: Platform) -> None:
    sign_in(page, platform.url, platform.admin_email, platform.admin_password)
    page.goto(f"{platform.url}/admin/tenants")
    table = page.locator("table").first
    headers = table.locator("thead th")
    first_row = table.locator("tbody tr").first
    assert first_row.locator("td").count() == headers.count()
    for i in range(headers.count()):
        head, cell = headers.nth(i).bounding_box(), first_row.locator("td").nth(i).bounding_box()
        assert head and cell and abs(head["x"] - cell["x"]) < 2, i
    # the row still saves through its form
    name = first_row.locator("input[name=display_name]")
    name.fill("Tenant A (renamed)")
    first_row.get_by_role("button", name="Save").click()
    expect(page.locator("tbody tr").first.locator("input[name=display_name]")).to_have_value(
        "Tenant A (renamed)"
    )


def test_audit_says_why_a_call_failed_and_filters_by_e_mail(
    page: Page, platform: Platform, screenshots: Path | None
) -> None:
    tenant = _tenant_client(platform, "b")
    refused = tenant.http.post("/api/v1/tenants", json={"name": "not-mine"})
    assert refused.status_code in (403, 404)
    sign_in(page, platform.url, platform.admin_email, platform.admin_password)
    page.goto(f"{platform.url}/admin/audit")
    page.get_by_label("Actor").fill(platform.user("b").upper())  # as a person types it
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text(platform.user("b"))
    assert all(platform.user("b") in rows.nth(i).inner_text() for i in range(rows.count()))
    # a row the audit middleware wrote (no service got to audit it): status and the refusal's words
    said = refused.json()["error"]["message"]
    denied = page.locator("tbody tr", has_text="tenant.create").first
    expect(denied.locator("td.audit-reason")).to_contain_text(str(refused.status_code))
    expect(denied.locator("td.audit-reason")).to_contain_text(said)
    shot(page, screenshots, "admin-audit-reasons")
