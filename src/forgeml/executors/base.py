"""The Executor protocol: run every host of one job attempt and return each host's result.

The job runner (services) stages inputs and builds the `HostSpec`s; an executor only runs them.
Backends are chosen by name (`settings.executor`) in `executors/registry.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from forgeml.domain.job_model import ClassDemand
from forgeml.training.artifacts import CheckpointSync
from forgeml.training.sandbox import SandboxMode
from forgeml.training.spec import HostResult, HostSpec, LogLine


@dataclass(frozen=True)
class RunRequest:
    """One attempt of a job: its hosts and how to treat them."""

    hosts: tuple[HostSpec, ...]
    sandbox: SandboxMode
    on_log: Callable[[LogLine], None]
    stop: threading.Event
    checkpoints_from: Mapping[str, Path] = field(default_factory=dict)
    checkpoint_sync: Mapping[str, CheckpointSync] = field(default_factory=dict)
    checkpoint_interval_s: float = 300.0


class HostCrashed(Exception):
    """The platform failed to run a host (not the program): the attempt may be retried."""


@runtime_checkable
class DemandSink(Protocol):
    """An executor whose cluster can grow on demand (Ray's autoscaler)."""

    def request_demand(self, demand: list[ClassDemand]) -> None:
        """Ask for one bundle per queued host (an empty list: nothing queued, shrink)."""
        ...


class Executor(Protocol):
    name: str

    def run(self, request: RunRequest) -> dict[str, HostResult]:
        """Run all hosts to the end; one failing stops the others. No process outlives this."""
        ...

    def close(self) -> None:
        """Release what the executor keeps between jobs (warm interpreters); idempotent."""
        ...
