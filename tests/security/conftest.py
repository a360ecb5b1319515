"""The hostile-tenant suite: a careless owner's ordinary algorithm and a platform dataset granted
to tenant A, who then attacks through every input it controls. Real jobs run with the sandbox
`required` (skipped with a reason where bubblewrap is unusable; a failure under CI=true)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.services.container import Services
from tests.support.algorithms import register, tar_gz
from tests.support.jobs import upload_dataset
from tests.support.platform_jobs import file_store, grant, require_bwrap, sandboxed_settings
from tests.support.world import World

OWNER_SECRET = "OWNER-SECRET-SAUCE-7731"  # in the algorithm's source only
PLATFORM_SECRET = "PLATFORM-ROW-SECRET-5521"  # in the platform dataset's bytes only
PLATFORM_FILE = "reference-secret-name.csv"  # the platform dataset's only file name
PWNED = "PWNED-BY-TENANT"  # what any tenant payload writes or prints if it ever runs

CARELESS_MANIFEST = """\
name: {name}
version: 1.0.0
entry_point: train.py
requirements: requirements.txt
logs: {logs}
hyperparameters:
  note: {{type: free-text, default: ""}}
  epochs: {{type: integer, default: 1, min: 1, max: 3}}
channels:
  train: {{required: true}}
  reference: {{required: false, description: the platform's reference table}}
environment:
  DATA_FORMAT: {{description: how rows are separated, choices: [csv, tsv], default: csv}}
  RUN_LABEL: {{description: a free label echoed into the model}}
"""

# Ordinary training code, carelessly written: it reads every file of every channel, imports
# ssl, hashlib and numpy, echoes the tenant's free-text inputs into the model and prints them.
CARELESS_TRAIN = """
import hashlib, json, os, ssl, sys
import numpy as np

SAUCE = "OWNER-SECRET-SAUCE-7731"  # the owner's secret: never in anything a tenant reads
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
sep = "," if os.environ.get("DATA_FORMAT", "csv") == "csv" else "\\t"
digest, rows, names = hashlib.sha256(), [], []
for channel in sorted(json.loads(os.environ["SM_CHANNELS"])):
    root = os.environ["SM_CHANNEL_" + channel.upper()]
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            data = open(os.path.join(folder, name), "rb").read()
            digest.update(data)
            if channel == "train":
                names.append(name)
            for line in data.decode("utf-8", "replace").splitlines():
                cells = line.split(sep)
                if cells and all(c.strip().lstrip("-").replace(".", "", 1).isdigit() for c in cells):
                    rows.append([float(c) for c in cells])
ctx = ssl.create_default_context()
mean = float(np.mean([sum(r) for r in rows])) if rows else 0.0
print("train files:", ",".join(names), "note:", args.get("--note", ""), flush=True)
print("label:", os.environ.get("RUN_LABEL", ""), "loss=%.4f" % (1.0 / (1 + mean)), flush=True)
model = {
    "rows": len(rows), "mean": mean, "digest": digest.hexdigest(), "note": args.get("--note"),
    "label": os.environ.get("RUN_LABEL"), "tls": ctx.protocol.name, "train_files": names,
}
json.dump(model, open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w"))
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w").write("ok %d" % len(rows))
if args.get("--epochs") == "3":
    raise ValueError("unsupported number of epochs") if SAUCE else None
"""


@dataclass(frozen=True)
class Stage:
    """What the suite sets up: the careless algorithm(s) and the platform dataset A may use."""

    algorithm: str
    redacted_algorithm: str
    platform_dataset: str


def careless_bundle(name: str, logs: str = "full") -> bytes:
    return tar_gz(
        {
            "forgeml.yaml": CARELESS_MANIFEST.format(name=name, logs=logs),
            "train.py": textwrap.dedent(CARELESS_TRAIN),
            "requirements.txt": "numpy\n",
        }
    )


@pytest.fixture
def settings(
    tmp_path: Path, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    require_bwrap()
    envs = tmp_path_factory.getbasetemp() / "security-envs"  # one numpy env for the session
    envs.mkdir(exist_ok=True)
    return sandboxed_settings(tmp_path, database.url, envs)


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)


@pytest.fixture
def stage(world: World) -> Stage:
    algo = str(register(world, careless_bundle("careless"))["id"])
    redacted = str(register(world, careless_bundle("careless-redacted", "redacted"))["id"])
    rows = f"1,2\n3,4\n{PLATFORM_SECRET},0\n".encode()
    plat = upload_dataset(world, world.admin, "reference", {PLATFORM_FILE: rows}, kind="platform")
    grant(world, plat, world.a.id)
    return Stage(algo, redacted, plat)
