"""The portal in a real browser: the tenant journey from sign-in to a downloaded model, form
validation, the admin journey, and tenant isolation (another tenant's pages are the 404 page)."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from forgeml.web.live import charts_available
from tests.browser.helpers import PASSWORD, Platform, bundle, shot, sign_in
from tests.support.services import service_missing

pytestmark = pytest.mark.browser
LONG = 120_000  # ms: a job runs a few seconds, its environment may still be building


def test_sign_in_wrong_password_and_sign_out(
    page: Page, platform: Platform, screenshots: Path | None
) -> None:
    page.goto(f"{platform.url}/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next=/jobs$"))
    shot(page, screenshots, "sign-in")
    expect(page.get_by_label("E-mail")).to_be_focused()  # autofocus: type right away
    sign_in_attempt(page, platform.user("a"), "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs$"))  # back where the visitor was going
    page.keyboard.press("Tab")  # the first stop on every page is the skip link
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash")).to_contain_text("signed out")
    page.goto(f"{platform.url}/")
    expect(page).to_have_url(re.compile(r"/login"))


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def sign_in_attempt(page: Page, email: str, password: str) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_tenant_journey_upload_train_watch_download(
    page: Page, platform: Platform, screenshots: Path | None, data_dir: Path, tmp_path: Path
) -> None:
    if not charts_available():
        service_missing("the chart library is not installed (make assets)")
    blocked: list[str] = []  # inline script or style the CSP refused would show up here
    page.on(
        "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
    )
    sign_in(page, platform.url, platform.user("a"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenant A")
    # a dataset, uploaded from the browser with a progress bar
    nav(page, "Datasets")
    page.get_by_label("Name").fill("digits")
    page.get_by_label("Description").fill("rows of digits")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("digits")
    page.set_input_files("#up-files", [str(data_dir / "train.csv"), str(data_dir / "more.csv")])
    shot(page, screenshots, "dataset-upload")
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/datasets/dst_\w+/versions/1$"))
    expect(page.get_by_role("cell", name="train.csv")).to_be_visible()
    shot(page, screenshots, "dataset-version")
    # the catalog card's Train form
    nav(page, "Algorithms")
    shot(page, screenshots, "algorithm-catalog")
    card = page.locator("article", has_text="row-counter")
    card.get_by_role("link", name="Train").click()
    page.get_by_label("Job name").fill("first-model")
    page.get_by_label("train").select_option(label="digits (latest, v1)")
    page.get_by_label("epochs").fill("6")
    shot(page, screenshots, "train-form")
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"/jobs/job_\w+$"))
    # followed live until it completes: badge, log tail, a chart, the model
    expect(page.locator("#job-badge")).to_have_text("Completed", timeout=LONG)
    expect(page.locator("#log")).to_contain_text("epoch=6 loss=")
    expect(page.locator("#log")).to_contain_text("read 42 rows")
    expect(page.locator("#timeline")).to_contain_text("Training")
    expect(page.locator("#final-metrics")).to_contain_text("train:loss")
    expect(page.locator("#charts canvas").first).to_be_visible()
    shot(page, screenshots, "job-completed")
    with page.expect_download() as info:
        page.locator("#model-download").click()
    model = tmp_path / "model.tar.gz"
    info.value.save_as(model)
    with tarfile.open(model) as tar:
        member = tar.extractfile("model.json")
        assert member is not None
        assert json.load(member)["rows"] == 42
    nav(page, "Jobs")
    expect(page.locator("tr", has_text="first-model").locator("[data-job-badge]")).to_have_text(
        "Completed"
    )
    shot(page, screenshots, "jobs")
    nav(page, "Dashboard")
    expect(page.get_by_text("first-model").first).to_be_visible()
    shot(page, screenshots, "dashboard")
    # settings: a token shown once
    nav(page, "Settings")
    page.get_by_label("Token name").fill("notebook")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("code.secret")).to_contain_text("fml_")
    shot(page, screenshots, "settings")
    # a narrow screen: nothing wider than the viewport
    page.set_viewport_size({"width": 390, "height": 844})
    nav(page, "Dashboard")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, screenshots, "dashboard-narrow")
    assert blocked == []


def test_validation_errors_show_next_to_their_fields(page: Page, platform: Platform) -> None:
    sign_in(page, platform.url, platform.user("b"))
    algorithm_id = platform.algorithm["algorithm_id"]
    page.goto(f"{platform.url}/algorithms/{algorithm_id}/train")
    # in the page: HTML5 constraints, messages beside the fields, nothing sent
    page.get_by_label("Job name").fill("bad name!")
    page.get_by_label("epochs").fill("500")
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"/train$"))
    expect(page.locator('[data-error-for="name"]')).not_to_be_empty()
    expect(page.locator('[data-error-for="hp.epochs"]')).not_to_be_empty()
    # on the server: the same form with the page's checks bypassed
    page.locator("#train-form").evaluate("form => { form.noValidate = true; }")
    page.get_by_label("Job name").fill("fine-name")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator('[data-error-for="hp.epochs"]')).to_contain_text("50")
    expect(page.locator('[data-error-for="ch.train"]')).to_contain_text("choose a dataset")
    expect(page.get_by_label("Job name")).to_have_value("fine-name")  # values kept
    assert "train.py" not in page.content()  # tenants see the card, never the code's layout
    # a webhook to a private address is refused next to its field
    page.goto(f"{platform.url}/settings/webhooks")
    page.get_by_label("Receiver URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator('[data-error-for="url"]')).not_to_be_empty()


def test_admin_registers_an_algorithm_and_grants_a_platform_dataset(
    page: Page, platform: Platform, screenshots: Path | None, data_dir: Path, tmp_path: Path
) -> None:
    sign_in(page, platform.url, platform.admin_email, platform.admin_password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Platform overview")
    nav(page, "Tenants")
    expect(page.locator("input[value='tenant-a']")).to_be_visible()
    shot(page, screenshots, "admin-tenants")
    # register by upload; the environment build is followed on the algorithm page
    archive = tmp_path / "vision.tar.gz"
    archive.write_bytes(bundle("vision-counter"))
    nav(page, "Algorithms")
    page.set_input_files("#f-bundle", str(archive))
    page.get_by_role("button", name="Upload and register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("vision-counter")
    expect(page.locator("[data-build-status]")).to_have_text(
        re.compile("registered|building|ready")
    )
    page.get_by_role("link", name="Build log").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Build log")
    nav(page, "Algorithms")
    expect(page.get_by_role("link", name="vision-counter")).to_be_visible()
    shot(page, screenshots, "admin-algorithms")
    # a platform dataset with a file, granted to tenant A for that algorithm
    nav(page, "Platform datasets")
    page.get_by_label("Name").fill("curated-digits")
    page.get_by_label("Description").fill("the platform's curated digits")
    page.get_by_role("button", name="Create dataset").click()
    page.set_input_files("#up-files", str(data_dir / "more.csv"))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/admin/datasets/dst_\w+/versions/1$"))
    page.get_by_role("link", name="← curated-digits").click()
    page.get_by_label("Tenant").select_option(label="tenant-a")
    page.get_by_label("Only with algorithms").fill("vision-counter")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator("#grants")).to_contain_text("vision-counter")
    shot(page, screenshots, "admin-platform-dataset")
    nav(page, "Audit log")
    page.get_by_label("Action").fill("grant.*")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table")).to_contain_text("grant.create")
    shot(page, screenshots, "admin-audit")
    # tenant A sees the card (no download), tenant B does not
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, platform.url, platform.user("a"))
    nav(page, "Platform data")
    card = page.locator("article", has_text="curated-digits")
    expect(card).to_contain_text("Only with: vision-counter")
    expect(card.locator("a")).to_have_count(0)
    shot(page, screenshots, "platform-datasets")


def _tenant_api(platform: Platform, key: str) -> httpx.Client:
    r = httpx.post(
        f"{platform.url}/api/v1/auth/login",
        json={"email": platform.user(key), "password": PASSWORD, "mode": "token"},
    )
    assert r.status_code == 200, r.text
    return httpx.Client(
        base_url=f"{platform.url}/api/v1",
        headers={"Authorization": f"Bearer {r.json()['token']}"},
        timeout=60,
    )


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, r.text
    return r.json()


def test_another_tenants_job_and_dataset_pages_are_the_404_page(
    page: Page, platform: Platform, screenshots: Path | None
) -> None:
    with _tenant_api(platform, "a") as a:
        ds = _ok(a.post("/datasets", json={"name": "private-a"}))
        up = _ok(
            a.post(f"/datasets/{ds['id']}/uploads", json={"files": [{"path": "x.csv", "size": 6}]})
        )
        upload = up["version"]["id"]
        _ok(a.put(f"/datasets/{ds['id']}/uploads/{upload}/files/x.csv", content=b"a,b\n1\n"))
        _ok(a.post(f"/datasets/{ds['id']}/uploads/{upload}/commit"))
        job = _ok(
            a.post(
                "/training-jobs",
                json={
                    "name": "private-job",
                    "algorithm": platform.algorithm["id"],
                    "input_data": {"train": {"dataset_id": ds["id"]}},
                },
            )
        )
    sign_in(page, platform.url, platform.user("b"))
    for path in (
        f"/jobs/{job['id']}",
        f"/datasets/{ds['id']}",
        f"/datasets/{ds['id']}/versions/1",
        f"/jobs/{job['id']}/artifacts/model.tar.gz",
    ):
        response = page.goto(f"{platform.url}{path}")
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(page.get_by_role("link", name="Jobs")).to_be_visible()  # the portal's own look
        assert "private" not in page.content()
    shot(page, screenshots, "not-found")
    # and a page that does not exist at all looks the same
    response = page.goto(f"{platform.url}/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
