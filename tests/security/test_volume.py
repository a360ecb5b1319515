"""A job's `volume_gb` caps everything it writes — model, output, checkpoints, /tmp, HOME — in
every sandbox mode (issue 10 item 3). Volumes are MiB-sized here (`jobs.volume_unit_bytes`).
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from forgeml.config import Settings
from forgeml.db.engine import Database
from forgeml.db.jobs import job_attempts
from forgeml.services.container import Services
from forgeml.training.spec import EntryPoint, HostSpec
from forgeml.training.volume import HostVolume, release_stale, usage_bytes
from tests.support.algorithms import register, tar_gz
from tests.support.jobs import job_body, logs_text, run_to_end, submit, upload_dataset
from tests.support.platform_jobs import file_store, settings_for_mode
from tests.support.world import World

MIB = 1024 * 1024
VOLUME = 8  # "GB" of the job = MiB in these tests

MANIFEST = """\
name: filler
version: 1.0.0
entry_point: train.py
hyperparameters:
  where: {type: categorical, values: [model, output, checkpoints, tmp, home], default: model}
  mib: {type: integer, default: 1, min: 1, max: 512}
channels:
  train: {required: true}
resource_classes: [cpu.small]
"""

# Writes `mib` MiB where asked, slowly enough for a watchdog to see it grow; ENOSPC fails it.
FILLER = """
import os, sys, tempfile, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
base = os.environ["SAGEMAKER_BASE_DIR"]
folder = {
    "model": os.environ["SM_MODEL_DIR"],
    "output": os.environ["SM_OUTPUT_DATA_DIR"],
    "checkpoints": os.path.join(base, "checkpoints"),
    "tmp": tempfile.gettempdir(),
    "home": os.path.expanduser("~"),
}[args["--where"]]
block = os.urandom(1024 * 1024)
with open(os.path.join(folder, "fill.bin"), "wb") as f:
    for i in range(int(args["--mib"])):
        f.write(block)
        f.flush()
        time.sleep(0.02)
print("wrote", args["--mib"], "MiB into", args["--where"], flush=True)
"""


@pytest.fixture(params=[("required", "auto"), ("off", "auto"), ("off", "watch")])
def settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    sandbox, enforcement = request.param
    envs = tmp_path_factory.getbasetemp() / "security-volume-envs"
    return settings_for_mode(
        sandbox, tmp_path, database.url, envs, volume_unit_bytes=MIB, volume_enforcement=enforcement
    )


@pytest.fixture
def services(settings: Settings, database: Database) -> Iterator[Services]:
    svc = Services.build(settings, database, file_store(settings))
    yield svc
    svc.job_runs.shutdown(30)


def _failure_kinds(world: World, job_id: str) -> list[str | None]:
    a = job_attempts
    with world.services.db.read() as conn:
        rows = conn.execute(sa.select(a.c.failure_kind).where(a.c.job_id == job_id))
        return [kind for (kind,) in rows]


def _mounts_under(path: Path) -> list[str]:
    return [m for m in Path("/proc/mounts").read_text().splitlines() if str(path) in m]


def test_a_job_that_fills_its_volume_fails_and_nothing_else_is_affected(world: World) -> None:
    algo = str(
        register(world, tar_gz({"forgeml.yaml": MANIFEST, "train.py": textwrap.dedent(FILLER)}))[
            "id"
        ]
    )
    ds = upload_dataset(world, world.a.h(), "rows", {"r.csv": b"a\n1\n"})
    resources = {"resource_class": "cpu.small", "volume_gb": VOLUME}
    attacks = {
        where: submit(
            world, world.a.h(),
            job_body(f"fill-{where}", algo, ds, hyperparameters={"where": where, "mib": 64}, resources=resources),
        )["id"]
        for where in ("model", "checkpoints", "tmp", "home")
    }  # fmt: skip
    b_ds = upload_dataset(world, world.b.h(), "b-rows", {"r.csv": b"b\n2\n"})
    fits = submit(
        world, world.b.h(),
        job_body("fits", algo, b_ds, hyperparameters={"where": "tmp", "mib": 2}, resources=resources),
    )["id"]  # fmt: skip
    settings = world.services.settings
    work = settings.jobs.work_dir or settings.home / "work"
    disk_before = usage_bytes(work) if work.exists() else 0

    for where, job_id in attacks.items():
        job = run_to_end(world, job_id)
        assert job["secondary_status"] == "Failed", (where, job)
        assert (
            job["failure_reason"] == f"AlgorithmError: the job exceeded its volume of {VOLUME} GB"
        )
        assert f"wrote 64 MiB into {where}" not in logs_text(world, world.a.h(), job_id)
        assert _failure_kinds(world, job_id) == ["limit_exceeded"]  # the platform's limit
    other = run_to_end(world, fits)
    assert other["secondary_status"] == "Completed", other  # another tenant's job in parallel
    assert "wrote 2 MiB into tmp" in logs_text(world, world.b.h(), fits)
    assert _mounts_under(work) == []  # every volume is unmounted and its image gone
    assert not list(work.rglob("*.volume.img")) if work.exists() else True
    assert (usage_bytes(work) if work.exists() else 0) <= disk_before + VOLUME * MIB


def test_volumes_a_dead_runner_left_mounted_are_released(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a job volume needs root; the watchdog needs no release")
    job_dir = tmp_path / "work" / "job_x"
    spec = HostSpec(
        job_name="job_x", host="algo-1", hosts=("algo-1",), instance_type="cpu.small",
        entry_point=EntryPoint("script", "train.py"), code_dir=tmp_path, python=Path(sys.executable),
        work_root=job_dir / "attempt-1" / "algo-1", volume_bytes=VOLUME * MIB, volume_gb=VOLUME,
    )  # fmt: skip
    volume = HostVolume(spec, "mount").open()  # the runner dies here, never closing it
    assert volume.mode == "mount" and _mounts_under(job_dir)
    (spec.work_root / "model.bin").write_bytes(b"x" * MIB)

    assert release_stale(job_dir) == [spec.work_root]
    assert _mounts_under(job_dir) == []
    assert not volume.image.exists()
    assert release_stale(job_dir) == []
