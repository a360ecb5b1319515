"""Helpers for real jobs through the platform: sandbox=required on a file store, the example
algorithms registered once per session (their envs cached by digest), demo data as datasets.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from forgeml.client.packing import pack_folder
from forgeml.config import Settings
from forgeml.storage.registry import open_store
from forgeml.training import sandbox as sb
from tests.support.algorithms import EXAMPLES, register
from tests.support.jobs import JOBS, job_settings, upload_dataset
from tests.support.services import service_missing
from tests.support.world import World


def require_bwrap() -> None:
    problem = sb.self_test()
    if problem is not None:
        service_missing(problem)


def sandboxed_settings(tmp: Path, database_url: str, envs: Path, **jobs: Any) -> Settings:
    """Job settings with the jail required and objects in a folder (so a job could try to read
    it): what a single-node `forgeml up` runs with."""
    base = job_settings(tmp, database_url, envs, **jobs)
    objects = tmp / "home" / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    return base.model_copy(update={"sandbox": "required", "storage_url": f"file://{objects}"})


def settings_for_mode(
    sandbox: str, tmp: Path, database_url: str, envs: Path, **jobs: Any
) -> Settings:
    """`sandboxed_settings` with another sandbox mode; `required` skips (or fails under CI)
    without bwrap. `envs` is created: share it between tests to build each env once."""
    if sandbox == "required":
        require_bwrap()
    envs.mkdir(parents=True, exist_ok=True)
    base = sandboxed_settings(tmp, database_url, envs, **jobs)
    return base.model_copy(update={"sandbox": sandbox})


def file_store(settings: Settings) -> Any:
    return open_store(settings.storage_url, settings.s3)


def register_example(world: World, name: str, tmp: Path) -> str:
    """Register `examples/algorithms/<name>` as the platform admin; its version id."""
    bundle, _ = pack_folder(EXAMPLES / name, out=tmp / f"{name}.tar.gz")
    return str(register(world, bundle.read_bytes())["id"])


def grant(world: World, dataset_id: str, tenant_id: str) -> None:
    body = {"dataset_id": dataset_id, "tenant_id": tenant_id}
    resp = world.client.post("/api/v1/grants", json=body, headers=world.admin)
    assert resp.status_code == 201, resp.text


def demo_channels(world: World, parts: dict[str, Path], tag: str) -> dict[str, dict[str, str]]:
    """The platform part as a platform dataset granted to tenant A; A uploads its own part and
    the validation part. The `input_data` of a job using all three channels."""
    plat = upload_dataset(
        world, world.admin, f"{tag}-platform", {parts["platform"].name: parts["platform"].read_bytes()},
        kind="platform",
    )  # fmt: skip
    grant(world, plat, world.a.id)
    own = upload_dataset(
        world, world.a.h(), f"{tag}-own", {parts["tenant"].name: parts["tenant"].read_bytes()}
    )
    val = upload_dataset(
        world, world.a.h(), f"{tag}-val", {"val.csv": parts["validation"].read_bytes()}
    )
    return {
        "train": {"dataset_id": own},
        "platform": {"dataset_id": plat},
        "validation": {"dataset_id": val},
    }


def artifact(world: World, headers: dict[str, str], job_id: str, name: str) -> dict[str, bytes]:
    """Download `name` (model.tar.gz / output.tar.gz) through the API; its files by name."""
    resp = world.client.get(f"{JOBS}/{job_id}/artifacts/{name}", headers=headers)
    assert resp.status_code == 200, resp.text
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
