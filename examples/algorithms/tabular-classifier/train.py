"""Train a scikit-learn gradient-boosting classifier on tabular CSV data.

This is a plain SageMaker script-mode training script: it runs unchanged on Amazon SageMaker
(scikit-learn framework container or any image with scikit-learn) and on ForgeML, which builds the
same ``/opt/ml`` tree and ``SM_*`` environment for it.

Input channels (folders; every ``*.csv`` file in them is read, all with the same header):

* ``train`` (required): labelled rows, e.g. the customer's (tenant's) own data.
* ``platform`` (optional): more labelled rows with the same columns, e.g. the platform owner's
  curated dataset; its rows are concatenated with ``train``.
* ``validation`` (optional): held-out rows; when present, accuracy and macro F1 on it are reported.

The label is the column named by ``--target`` (default ``label``), or the last column when no
column has that name; every other column must be numeric (empty cells are missing values).

Hyperparameters arrive as ``--key value`` arguments: ``--learning-rate``, ``--max-iter``,
``--max-depth`` (0 = unlimited), ``--target``, ``--seed``.

Output:

* ``$SM_MODEL_DIR/model.joblib``: the fitted ``HistGradientBoostingClassifier`` (``joblib.load``
  it and call ``predict`` on rows of the feature columns, in order), plus
  ``$SM_MODEL_DIR/metadata.json`` (feature columns, target, classes);
* ``$SM_OUTPUT_DATA_DIR/metrics.json`` and log lines ``train_accuracy=...``,
  ``validation_accuracy=... validation_f1=...`` that the platform's metric regexes pick up;
* on an error: the reason in ``/opt/ml/output/failure`` and exit code 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import traceback
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score
from threadpoolctl import threadpool_limits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # hyperparameters
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--max-depth", type=int, default=0, help="0 = unlimited")
    p.add_argument("--target", default="label")
    p.add_argument("--seed", type=int, default=0)
    # SageMaker environment
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    p.add_argument("--platform", default=os.environ.get("SM_CHANNEL_PLATFORM"))
    p.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    p.add_argument("--output-dir", default=os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    p.add_argument(
        "--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    )
    p.add_argument("--num-cpus", type=int, default=int(os.environ.get("SM_NUM_CPUS") or 0))
    args, unknown = p.parse_known_args(argv)
    if unknown:
        print(f"ignoring unknown arguments: {' '.join(unknown)}", flush=True)
    return args


def read_csv_folder(folder: str, target: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read every ``*.csv`` in ``folder`` into (feature names, X as float, y as strings)."""
    files = sorted(Path(folder).rglob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv files in channel folder {folder}")
    features: list[str] | None = None
    rows: list[list[float]] = []
    labels: list[str] = []
    for path in files:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                continue
            label_col = header.index(target) if target in header else len(header) - 1
            names = [h for i, h in enumerate(header) if i != label_col]
            if features is None:
                features = names
            elif names != features:
                raise ValueError(f"{path.name}: columns differ from the first file's")
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise ValueError(f"{path.name} line {line_no}: {len(row)} cells")
                try:
                    rows.append(
                        [float(v) if v else math.nan for i, v in enumerate(row) if i != label_col]
                    )
                except ValueError as exc:
                    raise ValueError(f"{path.name} line {line_no}: {exc}") from None
                labels.append(row[label_col])
    if features is None or not labels:
        raise ValueError(f"channel folder {folder} has no data rows")
    return features, np.asarray(rows, dtype=np.float64), np.asarray(labels)


def train(args: argparse.Namespace) -> None:
    if not args.train:
        raise ValueError("no train channel (SM_CHANNEL_TRAIN is not set)")
    features, x, y = read_csv_folder(args.train, args.target)
    print(f"train channel: {len(y)} rows, {len(features)} features", flush=True)
    if args.platform and os.path.isdir(args.platform):
        p_features, px, py = read_csv_folder(args.platform, args.target)
        if p_features != features:
            raise ValueError("platform channel columns differ from the train channel's")
        print(f"platform channel: {len(py)} rows (concatenated with train)", flush=True)
        x, y = np.concatenate([x, px]), np.concatenate([y, py])

    model = HistGradientBoostingClassifier(
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        max_depth=args.max_depth or None,
        random_state=args.seed,
    )
    with threadpool_limits(limits=args.num_cpus or os.cpu_count() or 1):
        model.fit(x, y)
        metrics = {"train_accuracy": float(accuracy_score(y, model.predict(x)))}
        print(f"train_accuracy={metrics['train_accuracy']:.4f}", flush=True)

        if args.validation:
            v_features, vx, vy = read_csv_folder(args.validation, args.target)
            if v_features != features:
                raise ValueError("validation channel columns differ from the train channel's")
            predicted = model.predict(vx)
            metrics["validation_accuracy"] = float(accuracy_score(vy, predicted))
            metrics["validation_f1"] = float(f1_score(vy, predicted, average="macro"))
            print(
                f"validation_accuracy={metrics['validation_accuracy']:.4f} "
                f"validation_f1={metrics['validation_f1']:.4f}",
                flush=True,
            )

    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    metadata = {
        "framework": "scikit-learn",
        "sklearn_version": sklearn.__version__,
        "estimator": type(model).__name__,
        "feature_columns": features,
        "target": args.target,
        "classes": [str(c) for c in model.classes_],
        "n_iter": int(model.n_iter_),
        "train_rows": len(y),
        "metrics": metrics,
    }
    with open(os.path.join(args.model_dir, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=2)
    os.makedirs(args.output_data_dir, exist_ok=True)
    with open(os.path.join(args.output_data_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"model written to {args.model_dir}/model.joblib", flush=True)


def write_failure(output_dir: str, exc: BaseException) -> None:
    """SageMaker convention: the first 1024 characters of output/failure are the failure reason."""
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    frames = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    try:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "failure"), "w") as f:
            f.write(f"{summary}\n\nTraceback (most recent call last, last 3 frames):\n{frames}")
    except OSError as write_error:
        print(f"could not write failure file: {write_error}", file=sys.stderr)


def main() -> int:
    output_dir = os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")
    try:
        args = parse_args()
        output_dir = args.output_dir
        train(args)
    except Exception as exc:
        traceback.print_exc()
        write_failure(output_dir, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
