"""The node side of the Ray executor: an actor that runs one host (or a packed job) with the
local launcher and sandbox, buffers its log lines for the driver, and asks the driver to sync
checkpoints (the driver holds the store and the lease)."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import ray

from forgeml.executors.base import RunRequest
from forgeml.executors.local import LocalExecutor
from forgeml.training.launcher import run_host
from forgeml.training.sandbox import SandboxMode
from forgeml.training.spec import HostResult, HostSpec, LogLine

_SYNC_WAIT_S = 3600.0  # a checkpoint upload the driver never answers does not hang the host


@ray.remote
class HostActor:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._lines: deque[LogLine] = deque()
        self._syncs: deque[tuple[int, str, str]] = deque()
        self._answers: dict[int, tuple[threading.Event, list[str | None]]] = {}
        self._lock = threading.Lock()
        self._next = 0

    # --- what the driver asks -------------------------------------------------------------

    def where(self) -> dict[str, str]:
        """This node's address and the interface that carries it (SM_NETWORK_INTERFACE_NAME)."""
        address = _node_ip()
        node = ray.get_runtime_context().get_node_id()
        return {"address": address, "interface": _interface_of(address), "node": node}

    def free_port(self) -> int:
        with socket.socket() as s:
            s.bind((_node_ip(), 0))  # where peers dial host 0
            return int(s.getsockname()[1])

    def stop(self) -> None:
        self._stop.set()

    def drain(self) -> tuple[list[LogLine], list[tuple[int, str, str]]]:
        with self._lock:
            lines, syncs = list(self._lines), list(self._syncs)
            self._lines.clear()
            self._syncs.clear()
        return lines, syncs

    def synced(self, token: int, error: str | None) -> None:
        with self._lock:
            waiting = self._answers.pop(token, None)
        if waiting is not None:
            waiting[1].append(error)
            waiting[0].set()

    # --- running ----------------------------------------------------------------------------

    def run_one(
        self,
        spec: HostSpec,
        sandbox: SandboxMode,
        checkpoints_from: Path | None,
        interval_s: float,
        syncs: list[str],
    ) -> HostResult:
        (spec,) = _with_ray_gpus((spec,))
        return run_host(
            spec,
            on_log=self._log,
            stop=self._stop,
            sandbox=sandbox,
            checkpoints_from=checkpoints_from,
            checkpoint_sync=self._syncer(spec.host) if spec.host in syncs else None,
            checkpoint_interval_s=interval_s,
        )

    def run_local(
        self,
        hosts: tuple[HostSpec, ...],
        sandbox: SandboxMode,
        checkpoints_from: Mapping[str, Path],
        interval_s: float,
        syncs: list[str],
    ) -> dict[str, HostResult]:
        """Every host of the job on this node, exactly as the local executor runs them."""
        request = RunRequest(
            hosts=_with_ray_gpus(hosts),
            sandbox=sandbox,
            on_log=self._log,
            stop=self._stop,
            checkpoints_from=checkpoints_from,
            checkpoint_sync={h: self._syncer(h) for h in syncs},
            checkpoint_interval_s=interval_s,
        )
        return LocalExecutor().run(request)

    def _log(self, line: LogLine) -> None:
        with self._lock:
            self._lines.append(line)

    def _syncer(self, host: str) -> Any:
        def sync(folder: Path) -> None:
            done: threading.Event = threading.Event()
            box: list[str | None] = []
            with self._lock:
                token, self._next = self._next, self._next + 1
                self._answers[token] = (done, box)
                self._syncs.append((token, host, str(folder)))
            if not done.wait(_SYNC_WAIT_S):
                raise TimeoutError("the driver did not sync the checkpoints")
            if box and box[0] is not None:
                raise RuntimeError(box[0])

        return sync


def _with_ray_gpus(hosts: tuple[HostSpec, ...]) -> tuple[HostSpec, ...]:
    """The GPUs Ray gave this actor, in order, instead of the worker's indices (which name the
    worker's own devices, not this node's)."""
    if not any(h.gpu_indices for h in hosts):
        return hosts
    ids = [int(g) for g in ray.get_gpu_ids()]
    out = []
    for h in hosts:
        mine, ids = ids[: len(h.gpu_indices)], ids[len(h.gpu_indices) :]
        out.append(replace(h, gpu_indices=tuple(mine)))
    return tuple(out)


def _node_ip() -> str:
    return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]


def _interface_of(address: str) -> str:
    for name, addrs in psutil.net_if_addrs().items():
        if any(a.address == address for a in addrs):
            return str(name)
    return "lo" if address.startswith("127.") else "eth0"
