"""Executors by name, as `settings.executor` names them (MLflow-style: one table, one lookup).

A new backend (Ray) adds a row here; its heavy imports stay inside its factory so a machine
without it still starts with the others.
"""

from __future__ import annotations

from collections.abc import Callable

from forgeml.config import RaySettings
from forgeml.domain.errors import InvalidInput
from forgeml.executors.base import Executor
from forgeml.executors.local import LocalExecutor


def _ray(settings: RaySettings) -> Executor:
    from forgeml.executors.ray_executor import RayExecutor  # Ray is an optional dependency

    return RayExecutor(settings)


EXECUTORS: dict[str, Callable[[RaySettings], Executor]] = {
    "local": lambda _settings: LocalExecutor(),
    "ray": _ray,
}


def open_executor(name: str, ray: RaySettings | None = None) -> Executor:
    factory = EXECUTORS.get(name)
    if factory is None:
        known = ", ".join(sorted(EXECUTORS))
        raise InvalidInput(f"unknown executor {name!r} (known: {known})")
    return factory(ray or RaySettings())
