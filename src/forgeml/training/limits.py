"""Resource caps for one host run: rlimits (always) and a cgroup (v1 or v2, when writable).

Best effort by design: `describe()` says which caps are really in force, for the first log line.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from forgeml.training.spec import HostSpec

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CFS_PERIOD_US = 100_000
# Kernel defaults (one CPU's worth) and maxima of cpu.shares (v1) and cpu.weight (v2).
_V1_SHARES_DEFAULT, _V1_SHARES_MAX = 1024, 262_144
_V2_WEIGHT_DEFAULT, _V2_WEIGHT_MAX = 100, 10_000


@dataclass(frozen=True)
class Rlimits:
    address_space: int
    processes: int
    file_size: int
    open_files: int

    @classmethod
    def for_spec(cls, spec: HostSpec) -> Rlimits:
        return cls(
            spec.memory_limit_bytes,
            spec.max_processes,
            spec.max_file_size_bytes,
            spec.max_open_files,
        )

    def pairs(self) -> tuple[tuple[int, int], ...]:
        return (
            (resource.RLIMIT_AS, self.address_space),
            (resource.RLIMIT_NPROC, self.processes),
            (resource.RLIMIT_FSIZE, self.file_size),
            (resource.RLIMIT_NOFILE, self.open_files),
            (resource.RLIMIT_CORE, 0),
        )

    def apply(self) -> None:
        """Run in the child between fork and exec (preexec_fn): inherited by every descendant."""
        for which, value in self.pairs():
            resource.setrlimit(which, (value, value))

    def apply_to(self, pid: int) -> None:
        """The same limits on a running process (a warm interpreter, before its job starts)."""
        for which, value in self.pairs():
            resource.prlimit(pid, which, (value, value))

    def describe(self) -> str:
        return (
            f"rlimits AS={self.address_space} NPROC={self.processes} "
            f"FSIZE={self.file_size} NOFILE={self.open_files} CORE=0"
        )


@dataclass
class Cgroup:
    """A per-host cgroup: directories (one per v1 controller, one for v2) the child joins."""

    version: int
    dirs: list[Path] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)

    def join(self) -> None:
        """Run in the child (preexec_fn) so the program and all its descendants are inside."""
        pid = str(os.getpid())
        for path in self.dirs:
            # A refused join (v2 "no internal processes" rule) must not stop the job: the
            # launcher checks membership afterwards and reports what is really in force.
            with contextlib.suppress(OSError):
                (path / "cgroup.procs").write_text(pid)

    def adopt(self, pid: int) -> None:
        """Move a running process in (a warm interpreter); v1 memory moves its charges along."""
        for path in self.dirs:
            with contextlib.suppress(OSError):
                charges = path / "memory.move_charge_at_immigrate"
                if charges.exists():
                    charges.write_text("3")
                (path / "cgroup.procs").write_text(str(pid))

    def holds(self, pid: int) -> bool:
        return pid in self.pids()

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def kill_all(self, timeout_s: float = 5.0) -> None:
        """SIGKILL everything still in the cgroup (catches processes that left the session)."""
        deadline = time.monotonic() + timeout_s
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        for path in self.dirs:
            with contextlib.suppress(OSError):
                path.rmdir()

    def describe(self) -> str:
        return f"cgroup v{self.version} " + " ".join(self.applied)


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path for a v1 controller ('' for v2), from /proc/self/cgroup."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return "/"


def _write(path: Path, value: str, label: str, applied: list[str]) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)
        applied.append(label)


def _make_dir(base: Path, name: str) -> Path | None:
    try:
        path = base / name
        path.mkdir()
    except OSError:
        return None
    return path


def create_cgroup(spec: HostSpec, root: Path = CGROUP_ROOT) -> Cgroup | None:
    """Create and configure a cgroup for this host, or None when cgroups are not writable."""
    name = f"forgeml-{spec.job_name}-{spec.host}-{uuid.uuid4().hex[:8]}"
    if (root / "cgroup.controllers").exists():
        return _create_v2(spec, root, name)
    return _create_v1(spec, root, name)


def cpu_quota_us(spec: HostSpec) -> int:
    """CFS quota for the class's CPUs when the admin asks for hard caps, else -1 (none).

    The weight already gives a job its class's share under contention; a quota on top only
    throttles bursts while the host is idle (measured: about 12% fewer samples/s for
    digits-classifier on 2 cores), so it is opt-in (`jobs.cpu_hard_cap`). A quota equal to
    every core protects nothing, so the whole host never gets one.
    """
    cpus = max(spec.cpu_count, 1)
    if not spec.cpu_hard_cap or cpus >= (os.cpu_count() or 1):
        return -1
    return cpus * _CFS_PERIOD_US


def cpu_weight(spec: HostSpec, version: int) -> int:
    """Scheduler weight worth the class's CPUs: the kernel default (one CPU's worth) per CPU.

    Left at the default, a 2-CPU job competing with one busy process gets one CPU, not two.
    """
    cpus = max(spec.cpu_count, 1)
    if version == 2:
        return min(_V2_WEIGHT_DEFAULT * cpus, _V2_WEIGHT_MAX)
    return min(_V1_SHARES_DEFAULT * cpus, _V1_SHARES_MAX)


def _cpu_label(spec: HostSpec, quota: int) -> str:
    return f"cpu={spec.cpu_count}:cap" if quota > 0 else f"cpu={spec.cpu_count}:weight"


def _create_v1(spec: HostSpec, root: Path, name: str) -> Cgroup | None:
    group = Cgroup(version=1)
    quota = cpu_quota_us(spec)
    settings = {
        "memory": [("memory.limit_in_bytes", str(spec.memory_limit_bytes), "memory")],
        "cpu": [
            ("cpu.shares", str(cpu_weight(spec, 1)), _cpu_label(spec, quota)),
            ("cpu.cfs_period_us", str(_CFS_PERIOD_US), ""),
            ("cpu.cfs_quota_us", str(quota), ""),
        ],
        "pids": [("pids.max", str(spec.max_processes), "pids")],
    }
    for controller, writes in settings.items():
        base = root / controller / _own_cgroup(controller).lstrip("/")
        path = _make_dir(base, name)
        if path is None:
            continue
        group.dirs.append(path)
        for file, value, label in writes:
            _write(path / file, value, label, group.applied if label else [])
    return group if group.dirs else None


def _create_v2(spec: HostSpec, root: Path, name: str) -> Cgroup | None:
    base = root / _own_cgroup("").lstrip("/")
    path = _make_dir(base, name)
    if path is None:
        return None
    group = Cgroup(version=2, dirs=[path])
    quota = cpu_quota_us(spec)
    cpu_max = f"{quota} {_CFS_PERIOD_US}" if quota > 0 else f"max {_CFS_PERIOD_US}"
    _write(path / "memory.max", str(spec.memory_limit_bytes), "memory", group.applied)
    _write(path / "cpu.weight", str(cpu_weight(spec, 2)), _cpu_label(spec, quota), group.applied)
    _write(path / "cpu.max", cpu_max, "", [])
    _write(path / "pids.max", str(spec.max_processes), "pids", group.applied)
    return group


def preexec(rlimits: Rlimits, cgroup: Cgroup | None) -> Callable[[], None]:
    """The function Popen runs in the child: join the cgroup first, then lower the rlimits."""

    def run() -> None:
        if cgroup is not None:
            cgroup.join()
        rlimits.apply()

    return run
