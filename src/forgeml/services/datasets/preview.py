"""Dataset previews: file counts by kind and the first rows of a tabular file for the data's
owner; for a granted platform dataset only its columns (the schema), never its rows."""

from __future__ import annotations

from forgeml.db import datasets as q
from forgeml.domain.dataset_preview import (
    HEAD_BYTES,
    MAX_IMAGES,
    Preview,
    csv_sample,
    json_sample,
    kind_of,
)
from forgeml.domain.datasets import Dataset, DatasetFile, DatasetVersion
from forgeml.services.datasets.access import DatasetAccess
from forgeml.services.identity.audit import Actor

MAX_FILES = 2000  # files counted for a preview; more are summarised as "2000+"


class PreviewService:
    def __init__(self, parent: DatasetAccess) -> None:
        self.p = parent

    def preview(self, actor: Actor, dataset_id: str, number: int) -> Preview:
        """For whoever may read the dataset (its tenant; admins): counts and first rows."""
        ds = self.p.load_for_read(actor, dataset_id)
        return self._build(ds, number, rows=True)

    def schema(self, actor: Actor, dataset_id: str) -> Preview:
        """For a tenant a platform dataset is granted to: counts and columns of its newest
        version, no rows (the owner's data stays protected)."""
        view = self.p.grants.get_platform(actor, dataset_id)
        if not view.versions:
            return Preview()
        return self._build(view.dataset, view.versions[-1].number, rows=False)

    def _build(self, ds: Dataset, number: int, *, rows: bool) -> Preview:
        with self.p.db.read() as conn:
            version: DatasetVersion = q.get_committed(conn, ds.id, number)
            files = q.list_files(conn, version.id, cursor=None, limit=MAX_FILES).items
        out = Preview()
        for f in files:
            kind = kind_of(f.path)
            out.counts[kind] = out.counts.get(kind, 0) + 1
            if rows and kind == "image" and len(out.images) < MAX_IMAGES:
                out.images.append(f.path)  # shown as thumbnails to the data's owner only
        sample = next((f for f in files if kind_of(f.path) in ("csv", "json")), None)
        if sample is not None:
            self._sample(out, sample)
            if not rows:
                out.rows, out.more_rows = [], False
        return out

    def _sample(self, out: Preview, f: DatasetFile) -> None:
        size = f.size or 0
        if size == 0:
            return
        end = min(size, HEAD_BYTES) - 1
        with self.p.store.open(f.object_key, start=0, end=end) as chunks:
            head = b"".join(chunks)
        complete = end == size - 1
        if kind_of(f.path) == "csv":
            out.columns, out.rows, out.more_rows = csv_sample(head, complete, f.path)
        else:
            out.columns, out.rows, out.more_rows = json_sample(head, complete)
        out.sample_path = f.path
