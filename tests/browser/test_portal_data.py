"""Data pages in a real browser: a version's preview for JSON lines and images (counts, first
rows, thumbnails), the catalog's detail page, and the Train form's hint of what each channel
expects, which `forgeml algorithm show` says the same way."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from forgeml.client import Client
from tests.browser.helpers import PASSWORD, Platform, cli_text, shot, sign_in

pytestmark = pytest.mark.browser


def _png(side: int, shade: int) -> bytes:
    """A real grey-scale PNG, `side` pixels square, a diagonal gradient from `shade`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\0" + bytes((shade + 16 * (x + y)) % 256 for x in range(side)) for y in range(side)
    )
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _token(platform: Platform, key: str) -> str:
    r = httpx.post(
        f"{platform.url}/api/v1/auth/login",
        json={"email": platform.user(key), "password": PASSWORD, "mode": "token"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def test_preview_counts_json_lines_and_images_and_shows_their_first_rows(
    page: Page, platform: Platform, tmp_path: Path, screenshots: Path | None
) -> None:
    folder = tmp_path / "mixed"
    (folder / "images").mkdir(parents=True)
    labels = [{"file": f"images/{i}.png", "label": i % 3, "note": "scan"} for i in range(7)]
    (folder / "labels.jsonl").write_text("".join(json.dumps(o) + "\n" for o in labels))
    for i in range(7):
        (folder / "images" / f"{i}.png").write_bytes(_png(8, 30 * i))
    (folder / "README.txt").write_text("seven scans and their labels\n")
    tenant = Client(platform.url, _token(platform, "a"))
    ds = tenant.datasets.create("scans-with-labels", kind="tenant")
    tenant.datasets.upload(ds["id"], [folder])
    sign_in(page, platform.url, platform.user("a"))
    page.goto(f"{platform.url}/datasets/{ds['id']}/versions/1")
    expect(page.locator("#preview-counts")).to_have_text(
        "7 image files · 1 json file · 1 other file"
    )
    table = page.locator("#preview-table")
    expect(table.locator("caption")).to_contain_text("labels.jsonl")
    expect(table.locator("caption")).to_contain_text("more rows follow")  # 7 rows, 5 shown
    expect(table.locator("thead th")).to_have_text(["file", "label", "note"])
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("tbody tr").first).to_contain_text("images/0.png")
    # the first six images as thumbnails, each one really decoded by the browser
    thumbs = page.locator("#preview-images img")
    expect(thumbs).to_have_count(6)
    for i in range(6):
        expect(thumbs.nth(i)).to_have_js_property("naturalWidth", 8)
    shot(page, screenshots, "dataset-preview")


def test_catalog_detail_and_train_form_say_what_each_channel_expects(
    page: Page, platform: Platform, screenshots: Path | None
) -> None:
    algorithm_id = platform.algorithm["algorithm_id"]
    sign_in(page, platform.url, platform.user("b"))
    page.goto(f"{platform.url}/algorithms/{algorithm_id}")
    rows = page.locator("#algo-channels tbody tr")
    expect(rows.filter(has_text="train")).to_contain_text("CSV files with a header row")
    expect(rows.filter(has_text="extra")).to_contain_text("more rows")
    shot(page, screenshots, "algorithm-detail")
    page.get_by_role("link", name="Train this version").click()
    expect(page.locator("#h-ch\\.train")).to_have_text("CSV files with a header row")
    expect(page.locator("#f-ch\\.train")).to_have_attribute(
        "aria-describedby", "h-ch.train e-ch.train"
    )
    # the CLI reads the same card and says it the same way (* marks a required channel)
    shown = cli_text(
        platform.url, _token(platform, "b"), "algorithm", "show", "row-counter", "1.0.0"
    )
    said = " ".join(shown.split())
    assert "channels: train*: CSV files with a header row; extra: more rows" in said, said
