"""The job pages in a real browser: a runnable class preselected, why a job waits, live Elapsed,
no empty log box, single-point charts, a failed job's output and reason (once), stop, the
local Swagger UI and the favicon, and a 390 px pass over the job page."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from forgeml.client import Client
from tests.browser.conftest import _wait_ready
from tests.browser.helpers import PASSWORD, Platform, cli_text, shot, sign_in

pytestmark = pytest.mark.browser
LONG = 120_000  # ms

MANIFEST = """\
name: wide-counter
version: 1.0.0
description: Sleeps through its epochs, prints a loss, fails on request.
entry_point: train.py
hyperparameters:
  epochs: {type: integer, default: 1, min: 1, max: 500}
  sleep: {type: continuous, default: 0.2, min: 0, max: 5}
  fail: {type: categorical, values: ["no", "yes", "quietly"], default: "no"}
channels:
  train: {required: true}
metrics:
  - {name: "train:loss", regex: 'loss=([0-9.]+)'}
resource_classes: [cpu.large, cpu.small]
"""
TRAIN = """\
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--sleep", type=float, default=0.2)
p.add_argument("--fail", default="no")
a, _ = p.parse_known_args()
for e in range(1, a.epochs + 1):
    print(f"epoch={e} loss={1 / e:.4f}", flush=True)
    time.sleep(a.sleep)
if a.fail == "yes":
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("bad value in row 7")
    open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "rejected-rows.csv"), "w").write("7")
    sys.exit(3)
if a.fail == "quietly":
    sys.exit(4)
json.dump({"ok": True}, open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w"))
"""


# what sticks out of a narrow viewport (for the failure message)
WIDER = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
  .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)"""


def _bundle() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (("forgeml.yaml", MANIFEST), ("train.py", TRAIN)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text.encode()), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


@pytest.fixture(scope="module")
def setup(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    v = platform.api(
        "POST",
        "/admin/algorithms?build=true",
        content=_bundle(),
        headers={"Content-Type": "application/gzip"},
    )
    _wait_ready(platform, v["algorithm_id"], v["id"])
    login = httpx.post(
        f"{platform.url}/api/v1/auth/login",
        json={"email": platform.user("b"), "password": PASSWORD, "mode": "token"},
    ).json()
    folder = tmp_path_factory.mktemp("rows")
    (folder / "rows.csv").write_text("x,label\n1,0\n2,1\n")
    tenant = Client(platform.url, login["token"])
    ds = tenant.datasets.create("rows-for-jobs", kind="tenant")
    tenant.datasets.upload(ds["id"], [folder])
    return {"client": tenant, "token": login["token"], "dataset": ds["id"], "algorithm": v}


def _submit(setup: dict[str, Any], name: str, **hps: Any) -> str:
    body = {
        "name": name,
        "algorithm": "wide-counter",
        "input_data": {"train": {"dataset_id": setup["dataset"]}},
        "hyperparameters": {k: str(v) for k, v in hps.items()},
        "resources": {"resource_class": "cpu.small", "instance_count": 1},
    }
    return str(setup["client"].jobs.submit(body)["id"])


def _ended(page: Page, status: str) -> None:
    badge = page.locator("#job-badge")
    expect(badge).to_have_text(re.compile("^(Completed|Failed|Stopped)$"), timeout=LONG)
    page.reload()  # the final page, as the server renders it
    said = page.locator("#job").inner_text()
    assert badge.inner_text() == status, said


def _no_microseconds(page: Page) -> None:
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", page.locator("#timeline").inner_text())


def test_train_form_preselects_a_class_that_can_run_and_single_points_chart_sanely(
    page: Page, platform: Platform, setup: dict[str, Any], screenshots: Path | None
) -> None:
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/algorithms/{setup['algorithm']['algorithm_id']}/train")
    # cpu.large sorts first but the 4-CPU runner can never hold it: cpu.small is preselected
    expect(page.locator("#f-resource_class")).to_have_value("cpu.small")
    expect(page.locator("#f-resource_class option[value='cpu.large']")).to_contain_text(
        "no runner here can run it"
    )
    page.get_by_label("Job name").fill("one-point")
    page.locator("#f-ch\\.train").select_option(label="rows-for-jobs (latest, v1)")
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"/jobs/job_\w+$"))
    _ended(page, "Completed")
    expect(page.locator("#model-download")).to_be_visible()
    _no_microseconds(page)
    # one sample: the time axis spans about a minute, not years
    page.reload()
    page.wait_for_function("Object.keys(window.forgemlCharts || {}).length > 0")
    span = page.evaluate(
        "(() => { const u = Object.values(window.forgemlCharts)[0];"
        " return u.scales.x.max - u.scales.x.min; })()"
    )
    assert 0 < span <= 120
    shot(page, screenshots, "job-one-point")


def test_a_waiting_job_says_why_runs_with_live_elapsed_and_stops(
    page: Page, platform: Platform, setup: dict[str, Any]
) -> None:
    busy = [_submit(setup, f"busy-{i}", epochs=400, sleep=0.5) for i in range(2)]
    try:
        _waiting_then_running(page, platform, setup, busy)
    finally:  # never leave the runner full for the next test
        for job_id in busy:
            if setup["client"].jobs.get(job_id)["status"] == "InProgress":
                setup["client"].jobs.stop(job_id)


def _waiting_then_running(
    page: Page, platform: Platform, setup: dict[str, Any], busy: list[str]
) -> None:
    waiting = _submit(setup, "waiting", epochs=1)
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/jobs/{waiting}")
    expect(page.locator("#job-pending")).to_be_visible(timeout=LONG)
    expect(page.locator("#job-pending-text")).to_contain_text(re.compile("waiting|queued"))
    # the CLI says the same reason in its table and its description
    reason = setup["client"].jobs.get(waiting)["pending_reason"]
    assert reason
    listed = cli_text(platform.url, setup["token"], "job", "ls")
    assert reason in next(line for line in listed.splitlines() if "waiting" in line)
    described = cli_text(platform.url, setup["token"], "job", "describe", waiting)
    assert f"pending_reason: {reason}" in " ".join(described.split())
    expect(page.locator("#log-empty")).to_be_visible()
    expect(page.locator("#log")).to_be_hidden()
    page.goto(f"{platform.url}/jobs")
    expect(page.locator("tr", has_text="waiting").locator(".pending-reason")).to_be_visible()
    page.goto(f"{platform.url}/jobs/{waiting}")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Stop job").click()
    expect(page.locator("#job-badge")).to_have_text("Stopped", timeout=LONG)
    # a running job: Elapsed counts on by itself, and Stop ends it
    page.goto(f"{platform.url}/jobs/{busy[0]}")
    expect(page.locator("#job-badge")).to_have_text("Training", timeout=LONG)
    first = page.locator("#job-elapsed").inner_text()
    expect(page.locator("#job-elapsed")).not_to_have_text(first, timeout=10_000)
    expect(page.locator("#log")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Stop job").click()
    expect(page.locator("#job-badge")).to_have_text("Stopped", timeout=LONG)


def test_a_failed_job_offers_its_output_and_says_the_reason_once(
    page: Page,
    platform: Platform,
    setup: dict[str, Any],
    screenshots: Path | None,
    tmp_path: Path,
) -> None:
    failed = _submit(setup, "fails", fail="yes")
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/jobs/{failed}")
    _ended(page, "Failed")
    expect(page.locator("#job-failure")).to_contain_text("bad value in row 7")
    # once outside the log (whose launcher line quotes it, as a log should)
    times = "(t) => t.split('bad value in row 7').length - 1"
    in_page = page.evaluate(f"({times})(document.body.innerText)")
    in_log = page.evaluate(f"({times})(document.getElementById('log').innerText)")
    assert in_page - in_log == 1
    expect(page.locator("#model-download")).to_have_count(0)
    # the main button is the output data the program wrote before failing
    output = page.locator("#output-download")
    expect(output).to_have_class(re.compile(r"\bprimary\b"))
    with page.expect_download() as info:
        output.click()
    saved = tmp_path / "output.tar.gz"
    info.value.save_as(saved)
    with tarfile.open(saved) as tar:
        assert tar.getnames() == ["rejected-rows.csv"]
    _no_microseconds(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    shot(page, screenshots, "job-failed-narrow")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.evaluate(WIDER)


def test_a_failed_job_that_wrote_nothing_offers_no_empty_archive(
    page: Page, platform: Platform, setup: dict[str, Any]
) -> None:
    failed = _submit(setup, "fails-quietly", fail="quietly")
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/jobs/{failed}")
    _ended(page, "Failed")
    expect(page.locator("#job-failure")).to_contain_text("ExitCode 4")
    expect(page.locator("#model-download")).to_have_count(0)
    expect(page.locator("#output-download")).to_have_count(0)
    expect(page.locator("#no-output")).to_be_visible()


def test_api_docs_are_served_locally_and_pages_have_a_favicon(
    page: Page, platform: Platform
) -> None:
    icon = httpx.get(f"{platform.url}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    elsewhere: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(platform.url) else elsewhere.append(r.url)
    )
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{platform.url}/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ForgeML", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    sign_in(page, platform.url, platform.user("b"))
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href and httpx.get(f"{platform.url}{href}").status_code == 200
    assert elsewhere == [] and failed == []


def test_train_form_leaves_out_platform_data_granted_for_another_algorithm(
    page: Page, platform: Platform, setup: dict[str, Any], tmp_path: Path
) -> None:
    admin = Client(platform.url, platform.admin_token)
    (tmp_path / "owner.csv").write_text("x,label\n3,1\n")
    ds = admin.datasets.create("owner-rows-for-row-counter", kind="platform")
    admin.datasets.upload(ds["id"], [tmp_path])
    admin.grants.create(ds["id"], platform.tenants["b"]["id"], algorithms=["row-counter"])
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/algorithms/{setup['algorithm']['algorithm_id']}/train")
    options = page.locator("#f-ch\\.train option")
    expect(options.filter(has_text="rows-for-jobs")).to_have_count(1)
    expect(options.filter(has_text="owner-rows-for-row-counter")).to_have_count(0)
    page.goto(f"{platform.url}/algorithms/{platform.algorithm['algorithm_id']}/train")
    expect(options.filter(has_text="owner-rows-for-row-counter")).to_have_count(1)
    # the tenant sees the granted dataset's columns, never its rows; its own data in full
    page.goto(f"{platform.url}/platform-datasets")
    card = page.locator("article", has_text="owner-rows-for-row-counter")
    expect(card.locator(".schema")).to_contain_text("x, label")
    expect(card.locator("table, td")).to_have_count(0)
    page.goto(f"{platform.url}/datasets/{setup['dataset']}/versions/1")
    expect(page.locator("#preview-counts")).to_have_text("1 csv file")
    expect(page.locator("#preview-table thead")).to_contain_text("label")
    expect(page.locator("#preview-table tbody tr")).to_have_count(2)


def test_catalog_has_a_detail_page_per_algorithm(
    page: Page, platform: Platform, setup: dict[str, Any]
) -> None:
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/algorithms")
    page.locator("article", has_text="wide-counter").get_by_role("link", name="Details").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("wide-counter")
    expect(page.locator("#algo-hyperparameters")).to_contain_text("sleep")
    expect(page.locator("#algo-hyperparameters")).to_contain_text("no, yes")
    expect(page.locator("#algo-channels")).to_contain_text("train")
    page.get_by_role("link", name="Train this version").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Train wide-counter")
