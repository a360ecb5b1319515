"""Example data for the demo, made from scikit-learn's bundled datasets (no download).

Each dataset is split deterministically (stratified by class, fixed seed) into three parts that
tell the platform's story:

* ``platform``: the owner's protected training data (60%), registered as a platform dataset and
  granted to tenants; it reaches a job through the optional ``platform`` channel;
* ``tenant``: the customer's own data (25%), uploaded by a tenant; it is the ``train`` channel;
* ``validation``: held-out data (15%) for the ``validation`` channel.

So one job trains one model on the owner's data plus the customer's data. Every part is a CSV file
with a header row, the feature columns and a ``label`` column last, written to
``dest/<part>/<dataset>-<part>.csv`` (each part in its own folder, so ``path.parent`` is a
ready-made channel folder and the file itself can be uploaded as a dataset).

scikit-learn is an optional dependency: it is imported only when a function is called.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PARTS: tuple[tuple[str, float], ...] = (("platform", 0.60), ("tenant", 0.25), ("validation", 0.15))
"""Part names and their share of every class; the last part takes the remainder."""

DEFAULT_SEED = 20240601


def _split_indices(labels: Sequence[int], seed: int) -> dict[str, list[int]]:
    """Stratified, deterministic split of row indices into PARTS (sorted within each part)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(index)
    parts: dict[str, list[int]] = {name: [] for name, _ in PARTS}
    for label in sorted(by_class):
        members = [by_class[label][i] for i in rng.permutation(len(by_class[label]))]
        start = 0
        for position, (name, share) in enumerate(PARTS):
            last = position == len(PARTS) - 1
            stop = len(members) if last else start + round(share * len(members))
            parts[name].extend(members[start:stop])
            start = stop
    return {name: sorted(indices) for name, indices in parts.items()}


def _write_parts(
    dest: Path,
    dataset: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    labels: Sequence[int],
    seed: int,
) -> dict[str, Path]:
    written: dict[str, Path] = {}
    for name, indices in _split_indices(labels, seed).items():
        folder = dest / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{dataset}-{name}.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow([*header, "label"])
            for i in indices:
                writer.writerow([*rows[i], str(labels[i])])
        written[name] = path
    return written


def _load(loader_name: str) -> Any:
    import sklearn.datasets  # type: ignore[import-untyped]

    return getattr(sklearn.datasets, loader_name)()


def write_digits_parts(dest: Path, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write scikit-learn's 8x8 digits (1797 images, 10 classes) as platform/tenant/validation CSVs.

    Columns: ``pixel_0`` … ``pixel_63`` (integers 0..16, row-major) and ``label`` (0..9).
    Returns ``{"platform": path, "tenant": path, "validation": path}``.
    """
    bunch = _load("load_digits")
    header = [f"pixel_{i}" for i in range(bunch.data.shape[1])]
    rows = [[str(int(v)) for v in row] for row in bunch.data]
    labels = [int(v) for v in bunch.target]
    return _write_parts(Path(dest), "digits", header, rows, labels, seed)


def write_wine_parts(dest: Path, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write scikit-learn's wine recognition data (178 rows, 13 features, 3 classes) as CSVs.

    Columns: the 13 chemical measurements under scikit-learn's feature names and ``label`` (0..2).
    Returns ``{"platform": path, "tenant": path, "validation": path}``.
    """
    bunch = _load("load_wine")
    header = [str(name) for name in bunch.feature_names]
    rows = [[repr(float(v)) for v in row] for row in bunch.data]
    labels = [int(v) for v in bunch.target]
    return _write_parts(Path(dest), "wine", header, rows, labels, seed)
