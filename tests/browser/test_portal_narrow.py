"""A 390 px pass: every main page of the portal, tenant's and admin's, fits a phone's width
(nothing scrolls sideways), misses none of its assets (styles, scripts, icon, images) and
shows times without microseconds or raw ISO stamps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from forgeml.client import Client
from tests.browser.helpers import PASSWORD, Platform, shot, sign_in

pytestmark = pytest.mark.browser
WIDTH = 390
# what sticks out of the viewport, for the failure message
WIDER = f"""[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > {WIDTH + 1})
  .filter(e => !(e.parentElement && e.parentElement.closest('.table-wrap, figure.chart, pre')))
  .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)"""
RAW_TIME = re.compile(r"\d{2}:\d{2}:\d{2}\.\d|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")

TENANT_PAGES = [
    "/",
    "/datasets",
    "/datasets/{dataset}",
    "/datasets/{dataset}/versions/1",
    "/platform-datasets",
    "/algorithms",
    "/algorithms/{algorithm}",
    "/algorithms/{algorithm}/train",
    "/jobs",
    "/jobs/{job}",
    "/checkpoints",
    "/settings",
    "/settings/webhooks",
    "/no/such/page",
]
ADMIN_PAGES = [
    "/admin",
    "/admin/tenants",
    "/admin/users",
    "/admin/algorithms",
    "/admin/algorithms/{algorithm}",
    "/admin/datasets",
    "/admin/datasets/{platform_dataset}",
    "/admin/datasets/{platform_dataset}/versions/1",
    "/admin/jobs",
    "/admin/audit",
    "/admin/usage",
    "/admin/resources",
]
SHOTS = {"/jobs": "jobs-narrow", "/datasets/{dataset}/versions/1": "dataset-preview-narrow"}


@pytest.fixture(scope="module")
def ids(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tenant dataset with wide rows, a completed job, and a platform dataset."""
    login = httpx.post(
        f"{platform.url}/api/v1/auth/login",
        json={"email": platform.user("a"), "password": PASSWORD, "mode": "token"},
    ).json()
    tenant = Client(platform.url, login["token"])
    folder = tmp_path_factory.mktemp("narrow")
    header = ",".join(f"a_rather_long_feature_name_{i}" for i in range(12))
    rows = "\n".join(",".join(str(i * j) for j in range(12)) for i in range(8))
    (folder / "wide.csv").write_text(f"{header},label\n{rows}\n")
    ds = tenant.datasets.create("narrow-rows", kind="tenant")
    tenant.datasets.upload(ds["id"], [folder])
    job = tenant.jobs.submit(
        {
            "name": "narrow-job-with-a-fairly-long-name-to-wrap",
            "algorithm": platform.algorithm["id"],
            "input_data": {"train": {"dataset_id": ds["id"]}},
            "hyperparameters": {"epochs": "1"},
            "resources": {"resource_class": "cpu.small", "instance_count": 1},
        }
    )
    assert tenant.jobs.wait(job["id"], timeout_s=120)["status"] == "Completed"
    admin = Client(platform.url, platform.admin_token)
    pds = admin.datasets.create("narrow-platform-rows", kind="platform")
    admin.datasets.upload(pds["id"], [folder])
    return {
        "dataset": ds["id"],
        "job": job["id"],
        "algorithm": platform.algorithm["algorithm_id"],
        "platform_dataset": pds["id"],
    }


def _narrow_page(browser: Browser, platform: Platform, email: str, password: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    page = context.new_page()
    sign_in(page, platform.url, email, password)
    yield page
    context.close()


@pytest.fixture(scope="module")
def tenant_page(browser: Browser, platform: Platform) -> Iterator[Page]:
    yield from _narrow_page(browser, platform, platform.user("a"), PASSWORD)


@pytest.fixture(scope="module")
def admin_page(browser: Browser, platform: Platform) -> Iterator[Page]:
    yield from _narrow_page(browser, platform, platform.admin_email, platform.admin_password)


def _check(page: Page, url: str) -> None:
    failed: list[str] = []  # any style, script, image or icon the page asked for and missed

    def missed(r: Response) -> None:
        if r.status >= 400 and r.url != url:
            failed.append(r.url)

    page.on("response", missed)
    response = page.goto(url)
    assert response is not None and response.status in (200, 404), (url, response)
    if page.locator("#charts[data-enabled=true]").count():  # drawn by a script after the load
        expect(page.locator("#charts canvas").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, (url, width, page.evaluate(WIDER))
    text = page.locator("body").inner_text()
    assert not RAW_TIME.search(text), (url, RAW_TIME.findall(text))
    page.remove_listener("response", missed)
    assert failed == [], url


@pytest.mark.parametrize("path", TENANT_PAGES)
def test_tenant_page_fits_390_px(
    tenant_page: Page,
    platform: Platform,
    ids: dict[str, str],
    path: str,
    screenshots: Path | None,
) -> None:
    _check(tenant_page, platform.url + path.format(**ids))
    if path in SHOTS:
        shot(tenant_page, screenshots, SHOTS[path])


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_page_fits_390_px(
    admin_page: Page, platform: Platform, ids: dict[str, str], path: str
) -> None:
    _check(admin_page, platform.url + path.format(**ids))


def test_sign_in_page_fits_390_px(browser: Browser, platform: Platform) -> None:
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    try:
        _check(context.new_page(), f"{platform.url}/login")
    finally:
        context.close()
