"""Algorithm bundles for tests (built in memory, including malformed ones) and registry helpers.

`hidden_version` backs the cross-tenant registry: algorithms are platform-owned, so "tenant B's
id" does not exist; the id no tenant may reach is a deprecated (unpublished) version.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from tests.support.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "algorithms"
ADMIN_API = "/api/v1/admin/algorithms"
CARDS_API = "/api/v1/algorithms"

TINY_MANIFEST = """\
name: {name}
version: {version}
description: a tiny test algorithm
entry_point: train.py
requirements: requirements.txt
hyperparameters:
  epochs: {{type: integer, default: 3, min: 1, max: 10}}
  lr: {{type: continuous, default: 0.1, min: 0.0001, max: 1.0, scale: log}}
  optimizer: {{type: categorical, values: [sgd, adam], default: adam}}
  note: {{type: free-text}}
  seed: {{type: integer, required: true, min: 0, max: 100}}
channels:
  train: {{required: true, description: rows}}
metrics:
  - {{name: "train:loss", regex: "loss=([0-9.]+)"}}
resource_classes: [cpu.small]
network: true
"""
SECRET_CODE = "print('secret-training-code-xyzzy')\n"
SECRET_REQUIREMENT = "# secret-requirement-plugh\n"


def tar_gz(files: dict[str, bytes | str], *, links: dict[str, str] | None = None) -> bytes:
    """A tar.gz with the given regular files (and symlinks name → target), in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(raw), 0o644
            tar.addfile(info, io.BytesIO(raw))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def tiny_files(
    name: str = "tiny", version: str = "1.0.0", requirements: str = SECRET_REQUIREMENT
) -> dict[str, bytes | str]:
    return {
        "forgeml.yaml": TINY_MANIFEST.format(name=name, version=version),
        "train.py": SECRET_CODE,
        "requirements.txt": requirements,
    }


def tiny_bundle(name: str = "tiny", version: str = "1.0.0", **kw: Any) -> bytes:
    return tar_gz(tiny_files(name, version, **kw))


def register(world: World, bundle: bytes, *, build: bool = False, status: int = 201) -> Any:
    resp = world.client.post(
        f"{ADMIN_API}?build={str(build).lower()}",
        content=bundle,
        headers={**world.admin, "Content-Type": "application/gzip"},
    )
    assert resp.status_code == status, resp.text
    return resp.json()


def hidden_version(world: World) -> tuple[str, str]:
    """(algorithm id, version id) of a deprecated version: reachable by platform admins only."""
    cached: tuple[str, str] | None = getattr(world, "_hidden_algorithm", None)
    if cached is None:
        v = register(world, tiny_bundle("hidden-algo"))
        path = f"{ADMIN_API}/{v['algorithm_id']}/versions/{v['id']}/deprecate"
        assert world.client.post(path, headers=world.admin).status_code == 200
        cached = (v["algorithm_id"], v["id"])
        world._hidden_algorithm = cached  # type: ignore[attr-defined]
    return cached


def remove_envs(services: Any) -> None:
    """Remove every environment a test built (they are read-only: through the cache)."""
    cache = services.algorithm_envs.cache
    for lock in cache.root.glob("*.lock") if cache.root.exists() else []:
        cache.remove(f"sha256:{lock.stem}")
