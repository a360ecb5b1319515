"""A dataset version at a glance, from the first bytes of its files (never the whole data):
file counts by kind, and the columns and first rows of the first CSV or JSON file."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

HEAD_BYTES = 64 * 1024  # read at most this much of one file for a preview
MAX_ROWS = 5
MAX_COLUMNS = 40
MAX_CELL = 80
MAX_IMAGES = 6  # thumbnails of a version's first images
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
KINDS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def kind_of(path: str) -> str:
    lower = path.lower()
    if lower.endswith(IMAGE_EXT):
        return "image"
    return next((k for ext, k in KINDS.items() if lower.endswith(ext)), "other")


@dataclass
class Preview:
    counts: dict[str, int] = field(default_factory=dict)  # kind -> files
    sample_path: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more_rows: bool = False  # the sample file has rows beyond those shown (or beyond the head)
    images: list[str] = field(default_factory=list)  # paths of the first images, for thumbnails


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def csv_sample(head: bytes, complete: bool, path: str) -> tuple[list[str], list[list[str]], bool]:
    text = head.decode("utf-8", errors="replace")
    if not complete:  # the last line may be cut in the middle
        text = text[: text.rfind("\n") + 1]
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not lines:
        return [], [], False
    header, body = lines[0][:MAX_COLUMNS], [r for r in lines[1:] if r]
    rows = [[_cell(c) for c in r[:MAX_COLUMNS]] for r in body[:MAX_ROWS]]
    return [_cell(c) for c in header], rows, len(body) > MAX_ROWS or not complete


def json_sample(head: bytes, complete: bool) -> tuple[list[str], list[list[str]], bool]:
    """A JSON array of objects, or JSON lines: the keys of the first objects as columns."""
    text = head.decode("utf-8", errors="replace").strip()
    items: list[Any] = []
    try:
        doc = json.loads(text) if complete else None
        items = doc if isinstance(doc, list) else [doc] if doc is not None else []
    except json.JSONDecodeError:
        doc = None
    if not items:  # JSON lines (or a head cut short): every complete line that parses
        for line in text.splitlines()[: MAX_ROWS + 1]:
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError:
                break
    objects = [i for i in items if isinstance(i, dict)]
    columns = list(dict.fromkeys(k for o in objects[:MAX_ROWS] for k in o))[:MAX_COLUMNS]
    rows = [[_cell(o.get(c, "")) for c in columns] for o in objects[:MAX_ROWS]]
    return [_cell(c) for c in columns], rows, len(items) > MAX_ROWS or not complete
