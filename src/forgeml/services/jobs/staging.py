"""Node-side file work of one attempt: stage channels, build host specs, move artifacts and
checkpoints between the attempt's folder and the object store.

File store: a reflink (copy-on-write clone) of each stored object where the filesystem can, else a
copy; never a hard link, so no job ever holds a writable path to a stored object. Other stores:
parallel download. Relative paths come from the dataset manifest and are re-checked here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from forgeml.domain import retry
from forgeml.domain.algorithms import relative_path_problem
from forgeml.domain.checkpoints import DEFAULT_LOCAL_PATH, local_relative
from forgeml.domain.errors import InvalidInput
from forgeml.domain.job_model import ResourceClass, TrainingJob
from forgeml.services.algorithms.envs import ResolvedAlgorithm
from forgeml.services.jobs.log_sink import log_retry
from forgeml.storage.base import ObjectStore
from forgeml.training.artifacts import open_inside, walk_files
from forgeml.training.spec import (
    ChannelSpec,
    EntryPoint,
    HostResult,
    HostSpec,
    MetricDefinition,
)
from forgeml.training.volume import VolumeMode

_DOWNLOAD_THREADS = 8
_FICLONE = 0x40049409  # linux/fs.h: share the source's blocks copy-on-write
_STAGED_MODE = 0o444


def _target(root: Path, rel: str) -> Path:
    problem = relative_path_problem(rel)
    if problem or PurePosixPath(rel).is_absolute():
        raise InvalidInput(f"dataset file {rel[:80]!r}: {problem or 'absolute path'}")
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _download(store: ObjectStore, key: str, dest: Path) -> None:
    if dest.exists():  # fetched by an earlier try (renamed only once complete): keep it
        return
    tmp = dest.with_name(dest.name + ".part")
    with tmp.open("wb") as f, store.open(key) as chunks:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, dest)


def _clone_or_copy(src: Path, dest: Path) -> None:
    """A private copy of a stored object: writing to it can never change the object.

    A hard link would share the inode, so a job without the jail (or a bug in it) could rewrite
    the bytes the store serves to everyone; a reflink shares blocks copy-on-write instead.
    """
    with src.open("rb") as s, dest.open("wb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        except OSError:  # no reflinks here (ext4, tmpfs, another filesystem): copy the bytes
            shutil.copyfileobj(s, d, 1024 * 1024)
    with contextlib.suppress(OSError):
        dest.chmod(_STAGED_MODE)


def stage_channels(store: ObjectStore, job: TrainingJob, root: Path) -> dict[str, Path]:
    """Materialize every channel's files under `root/<channel>/`, shared read-only by all hosts."""
    out: dict[str, Path] = {}
    downloads: list[tuple[str, Path]] = []
    for channel, info in job.inputs.items():
        folder = root / channel
        folder.mkdir(parents=True, exist_ok=True)
        for f in info.get("files", []):
            dest = _target(folder, str(f["path"]))
            local = store.local_path(str(f["key"]))
            if local is not None:
                _clone_or_copy(local, dest)
            else:
                downloads.append((str(f["key"]), dest))
        out[channel] = folder
    if downloads:
        with ThreadPoolExecutor(_DOWNLOAD_THREADS) as pool:
            list(pool.map(lambda kd: _download(store, kd[0], kd[1]), downloads))
        for _, dest in downloads:
            dest.chmod(_STAGED_MODE)
    return out


def stage_patiently(
    store: ObjectStore,
    job: TrainingJob,
    root: Path,
    *,
    patience_s: float,
    before_try: Callable[[], None],
    sleep: Callable[[float], object],
) -> dict[str, Path]:
    """`stage_channels` riding out a store outage: transient errors are retried with jittered
    back-off for `patience_s` (files already fetched are kept), then `Unavailable` goes up and
    the attempt is interrupted as a platform outage. `before_try` may end it (a stop, shutdown)."""

    def once() -> dict[str, Path]:
        before_try()
        return stage_channels(store, job, root)

    return retry.persist(
        once, patience_s=patience_s, on_retry=log_retry("stage input data"), sleep=sleep
    )


def _content_type(info: dict[str, Any]) -> str:
    types = {f.get("content_type") for f in info.get("files", [])} - {None, ""}
    return str(types.pop()) if len(types) == 1 else "application/octet-stream"


def host_specs(
    job: TrainingJob,
    algo: ResolvedAlgorithm,
    rc: ResourceClass,
    channels: dict[str, Path],
    work: Path,
    *,
    stop_grace_s: float,
    cpu_hard_cap: bool = False,
    volume_unit_bytes: int = 1024**3,
    volume_mode: VolumeMode = "auto",
) -> tuple[HostSpec, ...]:
    """One HostSpec per instance `algo-1..N`; GPUs are split evenly between the hosts."""
    m = algo.manifest
    entry = m.entry
    hosts = tuple(f"algo-{i + 1}" for i in range(job.instance_count))
    per_host = rc.gpus
    specs = []
    for i, host in enumerate(hosts):
        specs.append(
            HostSpec(
                job_name=job.name,
                host=host,
                hosts=hosts,
                instance_type=rc.effective_instance_type,
                resource_class=rc.name,
                entry_point=EntryPoint(entry.kind.value, entry.target),
                code_dir=algo.code_dir,
                python=algo.python,
                work_root=work / host,
                hyperparameters=job.hyperparameters,
                channels={
                    n: ChannelSpec(p, content_type=_content_type(job.inputs[n]))
                    for n, p in channels.items()
                },
                cpu_count=rc.cpus,
                cpu_hard_cap=cpu_hard_cap,
                gpu_indices=tuple(job.gpu_indices[i * per_host : (i + 1) * per_host]),
                memory_limit_bytes=rc.memory_bytes,
                max_file_size_bytes=rc.max_volume_gb * 1024**3,
                max_runtime_s=float(job.max_runtime_s),
                stop_grace_s=stop_grace_s,
                volume_bytes=job.volume_gb * volume_unit_bytes,
                volume_gb=job.volume_gb,
                volume_mode=volume_mode,
                # Declared names only, also for rows queued before the allowlist existed.
                user_env={k: v for k, v in job.environment.items() if k in m.environment},
                metric_definitions=tuple(MetricDefinition(d.name, d.regex) for d in m.metrics),
                network_allowed=job.network,
                checkpoint_rel=local_relative(
                    (job.checkpoint_config or {}).get("local_path") or DEFAULT_LOCAL_PATH
                ),
                log_visibility=m.logs,
                mode=m.mode,
                interpreter=m.interpreter,
            )
        )
    return tuple(specs)


# --- artifacts and checkpoints ---------------------------------------------------------------


def upload_artifacts(
    store: ObjectStore, prefix: str, result: HostResult
) -> dict[str, dict[str, Any]]:
    """Upload the packed model and output of the master host; what describe lists."""
    out: dict[str, dict[str, Any]] = {}
    for name, path in (
        ("model.tar.gz", result.model_artifact),
        ("output.tar.gz", result.output_artifact),
    ):
        if not path.is_file():
            continue
        size = path.stat().st_size
        with path.open("rb") as f:
            info = store.put(prefix + name, f, content_type="application/gzip", size=size)
        out[name] = {"key": info.key, "size": info.size, "etag": info.etag}
        out[name]["empty"] = archive_is_empty(path)
    return out


def archive_is_empty(path: Path) -> bool:
    """Whether a packed archive holds no entry (the program wrote nothing there): pages then
    offer no download of it. Reads only the first header, never the whole archive."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            return tar.next() is None
    except (OSError, tarfile.TarError):
        return False  # unreadable here: let the download say what it is


def checkpoint_sync(
    store: ObjectStore, prefix: str, guard: Callable[[], None]
) -> Callable[[Path], None]:
    """A sync hook uploading new or changed checkpoint files (after `guard()` checks the lease)."""
    seen: dict[str, tuple[int, int]] = {}

    def sync(folder: Path) -> None:
        changed = [
            (rel, (st.st_size, st.st_mtime_ns))
            for rel, st in walk_files(folder)
            if seen.get(rel) != (st.st_size, st.st_mtime_ns)
        ]
        if not changed:
            return
        guard()
        for rel, stamp in changed:
            try:
                f = open_inside(folder, rel)
            except OSError:  # gone or swapped for a link since the listing: skip it
                continue
            with f:
                store.put(prefix + rel, f)
            seen[rel] = stamp

    return sync


def restore_from_store(store: ObjectStore, prefix: str, dest: Path) -> Path | None:
    """Download a host's saved checkpoints into `dest`; None when there are none."""
    found = False
    for info in store.list(prefix):
        rel = info.key[len(prefix) :]
        _download(store, info.key, _target(dest, rel))
        found = True
    return dest if found else None
