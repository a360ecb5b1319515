"""Executors by name, as `settings.executor` names them (MLflow-style: one table, one lookup).

A new backend (Ray) adds a row here; its heavy imports stay inside its factory so a machine
without it still starts with the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from forgeml.config import JobServiceSettings, RaySettings
from forgeml.domain.errors import InvalidInput
from forgeml.executors.base import Executor
from forgeml.executors.local import LocalExecutor
from forgeml.training.warm_pool import WarmPool


def _local(settings: JobServiceSettings | None) -> Executor:
    if settings is None or settings.jobs.warm_pool_size == 0 or settings.sandbox == "off":
        return LocalExecutor()
    # Slots are mount points: without root no warm jail could get a job's folders.
    if os.geteuid() != 0:
        return LocalExecutor()
    cfg = settings.jobs
    # Beside the work folder, not in it: job folders hold only what their jobs mounted.
    root = settings.work_root.with_name(f"warm-{settings.work_root.name}")
    return LocalExecutor(WarmPool(root, cfg.warm_pool_size, max_envs=cfg.warm_pool_envs))


def _ray(settings: JobServiceSettings | None) -> Executor:
    from forgeml.executors.ray_executor import RayExecutor  # Ray is an optional dependency

    return RayExecutor(settings.ray if settings is not None else RaySettings())


EXECUTORS: dict[str, Callable[[JobServiceSettings | None], Executor]] = {
    "local": _local,
    "ray": _ray,
}


def open_executor(name: str, settings: JobServiceSettings | None = None) -> Executor:
    """The executor `name`; `settings` (this runner's) configure it, e.g. the warm pool."""
    factory = EXECUTORS.get(name)
    if factory is None:
        known = ", ".join(sorted(EXECUTORS))
        raise InvalidInput(f"unknown executor {name!r} (known: {known})")
    return factory(settings)
