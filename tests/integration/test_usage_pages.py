"""Portal usage and quota pages on both databases: the tenant's usage page (SVG chart in money,
per class and tag, its own rows only), the admin's quota editor and usage chart."""

from __future__ import annotations

import re

from tests.integration.test_portal_pages import HTML, csrf_of, sign_in
from tests.support.usage import insert_usage
from tests.support.world import World


def test_tenant_usage_page_shows_its_own_costs_only(world: World) -> None:
    insert_usage(world, world.a.id, "a-job", 7.0, {"project": "<b>vision</b>"})
    insert_usage(world, world.b.id, "b-job", 5.0, {"project": "b-secret"})
    c = sign_in(world.client, "tenant-admin@a.example.com")
    page = c.get("/usage", headers=HTML)
    assert page.status_code == 200
    assert "<svg" in page.text and "7.00 USD" in page.text
    assert "project=&lt;b&gt;vision&lt;/b&gt;" in page.text  # tenant text, escaped
    assert "b-secret" not in page.text and "5.00 USD" not in page.text
    assert f'href="/api/v1/tenants/{world.a.id}/usage/csv"' in page.text
    assert "no monthly budget" in page.text


def test_admin_edits_quotas_and_sees_cost_per_tenant(world: World) -> None:
    insert_usage(world, world.b.id, "b-job", 5.0, {})
    c = sign_in(world.client, "root@example.com", "/admin")
    page = c.get("/admin/quotas", headers=HTML)
    assert page.status_code == 200 and "tenant-a" in page.text
    form = {"csrf_token": csrf_of(page.text), "max_concurrent_jobs": "2",
            "class:cpu.small": "3", "monthly_budget": "12.5", "budget_hard_stop": "on"}  # fmt: skip
    saved = c.post(f"/admin/quotas/{world.a.id}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    q = world.client.get(f"/api/v1/tenants/{world.a.id}/quota", headers=world.admin).json()
    assert (q["max_concurrent_jobs"], q["class_instances"]) == (2, {"cpu.small": 3})
    assert (q["monthly_budget"], q["budget_hard_stop"]) == (12.5, True)
    bad = c.post(f"/admin/quotas/{world.a.id}", data={**form, "max_concurrent_jobs": "-1"})
    assert bad.status_code == 422 and "0 or more" in bad.text
    usage = c.get("/admin/usage", headers=HTML)
    assert usage.status_code == 200 and "12.50 USD (hard stop)" in usage.text
    assert re.search(r"<svg[^>]*>.*tenant-b.*5\.00 USD", usage.text, re.S)


def test_a_tenant_cannot_reach_the_quota_editor(world: World) -> None:
    c = sign_in(world.client, "tenant-admin@a.example.com")
    page = c.get("/admin/quotas", headers=HTML)
    assert page.status_code in (403, 404)
    form = {"csrf_token": csrf_of(c.get("/usage", headers=HTML).text), "max_concurrent_jobs": "99"}
    post = c.post(f"/admin/quotas/{world.a.id}", data=form, follow_redirects=False)
    assert post.status_code in (403, 404)
    q = world.client.get(f"/api/v1/tenants/{world.a.id}/quota", headers=world.admin).json()
    assert q["max_concurrent_jobs"] is None
