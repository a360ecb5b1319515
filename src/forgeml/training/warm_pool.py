"""Warm interpreters: per hot environment, jailed pythons started ahead with heavy modules
imported, each serving exactly one job (then discarded), so a ready environment skips the imports.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import subprocess
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from forgeml.training import mounts
from forgeml.training import sandbox as sb
from forgeml.training.contract import JAIL_TMP, SANDBOX_ROOT, HostLayout
from forgeml.training.limits import Cgroup, Rlimits
from forgeml.training.procs import ProcessTree, pid_namespace
from forgeml.training.program_env import build_env, program_argv
from forgeml.training.spec import HostSpec
from forgeml.training.volume import HostVolume
from forgeml.training.warm_slot import Group, Slot, job_specific

# Imported by every warm interpreter whose environment has them (the only preload list).
PRELOAD = ("numpy", "torch")
READY_TIMEOUT_S = 300.0  # importing torch on a busy host
_BOOT = Path(__file__).with_name("warm_boot.py").read_text()
_FLAGS = ["-E", "-s", "-u"]  # as program_argv: tenants cannot alter interpreter start-up
log = logging.getLogger(__name__)


def warm_options(python: Path, slot: Slot) -> list[str]:
    """The jail of a single-host offline job, with the slot where the job's paths will be."""
    base = {"PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": JAIL_TMP,
            "TMPDIR": JAIL_TMP, "LANG": "C.UTF-8", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    opts = [*sb.BASE_OPTIONS, "--bind", str(slot.tmp), JAIL_TMP]
    for root in sb.python_roots(python):
        opts += ["--ro-bind", str(root), str(root)]
    for name in sb.ETC_FILES:
        opts += ["--ro-bind", str(slot.etc / name), f"/etc/{name}"]
    opts += ["--bind", str(slot.ml), SANDBOX_ROOT, "--remount-ro", "/", "--hostname", "algo-1"]
    opts += ["--chdir", "/"]
    for key, value in sorted(base.items()):
        opts += ["--setenv", key, value]
    return opts


def fixed(options: list[str]) -> list[Group]:
    return [g for g in sb.option_groups(options) if not job_specific(g)]


@dataclass
class Warm:
    """One started, ready interpreter; `proc` is its bwrap, `tree` all of its processes."""

    python: Path
    proc: subprocess.Popen[bytes]
    tree: ProcessTree
    slot: Slot
    job_w: int
    flags: list[Group]
    program: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.job_w)
        self.tree.kill()
        self.proc.wait()
        self.tree.wait_gone(5.0)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self.slot.release()


def spawn(
    python: Path,
    root: Path,
    preload: tuple[str, ...] = PRELOAD,
    stop: threading.Event | None = None,
) -> Warm:
    """Start one warm interpreter in a new slot under `root`; returns once it is ready."""
    slot = Slot(root / f"slot-{uuid.uuid4().hex[:12]}")
    slot.prepare()
    options = warm_options(python, slot)
    args_fd = sb.options_fd(options)
    info_r, info_w = os.pipe()
    ready_r, ready_w = os.pipe()
    job_r, job_w = os.pipe()
    code = f"exec({_BOOT!r}, {{'__name__': '_forgeml_warm'}})"
    argv = [str(sb.BWRAP), "--args", str(args_fd), "--info-fd", str(info_w), str(python),
            *_FLAGS, "-c", code, str(ready_w), str(job_r), *preload]  # fmt: skip
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin"}, cwd=slot.root, start_new_session=True,
            pass_fds=(args_fd, info_w, ready_w, job_r),
        )  # fmt: skip
    except BaseException:
        for fd in (info_r, ready_r, job_w):
            os.close(fd)
        slot.release()
        raise
    finally:
        for fd in (args_fd, info_w, ready_w, job_r):
            os.close(fd)
    init = sb.read_info(info_r).get("child-pid")
    os.close(info_r)
    tree = ProcessTree(proc.pid, None, init, pid_namespace(init) if init else None)
    warm = Warm(python, proc, tree, slot, job_w, fixed(options))
    ok = _wait_ready(ready_r, proc, stop or threading.Event())
    os.close(ready_r)
    if not ok:
        said = _drain(proc.stderr)[-500:].decode("utf-8", "replace").strip()
        status = proc.poll()
        warm.discard()
        raise OSError(f"warm interpreter for {python} did not become ready ({status}): {said}")
    return warm


def _wait_ready(fd: int, proc: subprocess.Popen[bytes], stop: threading.Event) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None and not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            return os.read(fd, 1) == b"r"
    return False


def _drain(stream: object) -> bytes:
    """Read what the preload printed so far, without waiting (the job must not see it)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    os.set_blocking(fd, False)
    got = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            got = (got + chunk)[-65536:]
    os.set_blocking(fd, True)
    return got


def _jail_pids(tree: ProcessTree) -> list[int]:
    """bwrap, its init and the interpreter: found from the children lists, not a /proc scan
    (which costs ~100 ms on a busy host). Nothing else runs in a warm jail before its job."""
    found, todo = [tree.leader], [tree.leader]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


def assign(
    warm: Warm,
    spec: HostSpec,
    layout: HostLayout,
    volume: HostVolume,
    rlimits: Rlimits,
    cgroup: Cgroup | None,
) -> bool:
    """Give the job to `warm` as the cold launcher would start it; False (nothing changed in the
    job) when its jail would differ from the warm one's or its entry is not a python program."""
    env = build_env(spec, SANDBOX_ROOT, home=JAIL_TMP, python_bin=str(spec.python.parent))
    options = sb.bwrap_options(spec, layout, env, shared_net=False, tmp=volume.scratch)
    program = program_argv(spec, SANDBOX_ROOT)
    if fixed(options) != warm.flags or program[:4] != [str(spec.python), *_FLAGS]:
        return False
    warm.slot.stage_job(sb.option_groups(options))
    for stream in (warm.proc.stdout, warm.proc.stderr):
        _drain(stream)
    for pid in _jail_pids(warm.tree):
        with contextlib.suppress(ProcessLookupError):
            rlimits.apply_to(pid)
        if cgroup is not None:
            cgroup.adopt(pid)
    warm.tree.cgroup = cgroup
    cwd = f"{SANDBOX_ROOT}/code"
    # bwrap --chdir also sets PWD: the cold program has it.
    job = {"env": {**env, "PWD": cwd}, "cwd": cwd, "argv": program[4:]}
    data = json.dumps(job).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(warm.job_w, view) :]
    os.close(warm.job_w)
    warm.program = program
    return True


class WarmPool:
    """Up to `size` ready interpreters for each of the `max_envs` most recently used pythons.

    An environment becomes hot when a job eligible for a warm start asks for it (warm one ready
    or not); it cools down after `idle_s` without such a job. One background thread starts the
    interpreters, one at a time (each imports torch: CPU the running jobs would miss).
    """

    def __init__(
        self,
        root: Path,
        size: int = 1,
        *,
        max_envs: int = 4,
        idle_s: float = 900.0,
        preload: tuple[str, ...] = PRELOAD,
    ) -> None:
        self.root, self.size, self.max_envs, self.idle_s = root, size, max_envs, idle_s
        self.preload = preload
        self._ready: dict[Path, list[Warm]] = {}
        self._hot: OrderedDict[Path, float] = OrderedDict()  # python -> last asked (monotonic)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()  # set by close: a start under way gives up
        self._closed = False
        self._thread: threading.Thread | None = None
        atexit.register(self.close)  # no warm jail or slot mount outlives the process

    @staticmethod
    def eligible(spec: HostSpec) -> bool:
        """Cheap pre-check (a python entry of an offline single-host job without GPUs); `assign`
        still compares the whole jail."""
        if len(spec.hosts) != 1 or spec.network_allowed or spec.gpu_indices:
            return False
        return program_argv(spec, SANDBOX_ROOT)[:4] == [str(spec.python), *_FLAGS]

    def take(self, spec: HostSpec) -> Warm | None:
        """A ready interpreter for the spec's python (the caller owns it), or None."""
        if self.size <= 0 or not self.eligible(spec):
            return None
        with self._lock:
            if self._closed:
                return None
            self._heat(spec.python)
            found = None
            ready = self._ready.get(spec.python, [])
            while ready and found is None:
                candidate = ready.pop(0)
                found = candidate if candidate.alive() else None
        self._wake.set()
        return found

    def heat(self, python: Path) -> None:
        """Keep warm interpreters for `python` from now on (as a job asking for it does)."""
        with self._lock:
            if not self._closed and self.size > 0:
                self._heat(python)
        self._wake.set()

    def _heat(self, python: Path) -> None:
        self._hot[python] = time.monotonic()
        self._hot.move_to_end(python)
        self._start_thread()

    def start(
        self,
        spec: HostSpec,
        layout: HostLayout,
        volume: HostVolume,
        rlimits: Rlimits,
        cgroup: Cgroup | None,
    ) -> Warm | None:
        """A warm interpreter running this host's program, or None (start it cold)."""
        warm = self.take(spec)
        if warm is None:
            return None
        try:
            if assign(warm, spec, layout, volume, rlimits, cgroup):
                return warm
        except OSError as exc:
            log.warning("warm start failed, starting cold: %s", exc)
        warm.discard()
        return None

    def ready_count(self, python: Path) -> int:
        with self._lock:
            return sum(1 for w in self._ready.get(python, []) if w.alive())

    def _start_thread(self) -> None:
        if self._thread is None:
            mounts.release(self.root)  # slots a dead worker left behind
            self._thread = threading.Thread(target=self._fill, name="warm-pool", daemon=True)
            self._thread.start()

    def _cool(self) -> list[Warm]:
        """Drop environments asked for too long ago or beyond max_envs; their warm ones go."""
        gone: list[Warm] = []
        now = time.monotonic()
        while self._hot and (
            len(self._hot) > self.max_envs or now - next(iter(self._hot.values())) > self.idle_s
        ):
            python, _ = self._hot.popitem(last=False)
            gone += self._ready.pop(python, [])
        return gone

    def _next(self) -> Path | None:
        with self._lock:
            gone = self._cool()
            wanted = next(
                (p for p in reversed(self._hot) if self.ready_count_locked(p) < self.size), None
            )
        for warm in gone:
            warm.discard()
        return wanted

    def ready_count_locked(self, python: Path) -> int:
        ready = [w for w in self._ready.get(python, []) if w.alive()]
        self._ready[python] = ready
        return len(ready)

    def _fill(self) -> None:
        while not self._closed:
            python = self._next()
            if python is None:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            try:
                warm = spawn(python, self.root, self.preload, self._stop)
            except OSError as exc:
                if not self._stop.is_set():  # else: closing cut the start short
                    log.warning("warm interpreter failed to start: %s", exc)
                with self._lock:
                    self._hot.pop(python, None)  # cold starts until a job asks again
                continue
            with self._lock:
                keep = not self._closed and python in self._hot
                if keep:
                    self._ready.setdefault(python, []).append(warm)
            if not keep:
                warm.discard()

    def close(self) -> None:
        """Discard every warm interpreter and stop starting new ones (idempotent)."""
        atexit.unregister(self.close)
        with self._lock:
            self._closed = True
            self._stop.set()
            warm = [w for ready in self._ready.values() for w in ready]
            self._ready.clear()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(READY_TIMEOUT_S)
        for w in warm:
            w.discard()
