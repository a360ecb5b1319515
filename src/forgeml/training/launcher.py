"""Run one host of a training job under the SageMaker contract: start, stream, limit, stop, pack.

`run_host` is the library entry the job runner calls once per host; it holds no DB/store handles.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from forgeml.domain.jobs import MAX_LOG_LINE
from forgeml.training import sandbox as sb
from forgeml.training.artifacts import CheckpointSync, PeriodicSync, pack, restore_checkpoints
from forgeml.training.contract import JAIL_TMP, SANDBOX_ROOT, HostLayout, build_tree, validate_spec
from forgeml.training.failure import (
    FAILURE_CHARS,
    StderrTail,
    failure_text,
    read_failure,
    write_once,
)
from forgeml.training.limits import Cgroup, Rlimits, create_cgroup, preexec
from forgeml.training.log_filter import LogFilter, host_paths
from forgeml.training.metrics import MetricScraper
from forgeml.training.procs import ProcessTree, pid_namespace
from forgeml.training.program_env import build_env, program_argv
from forgeml.training.spec import HostResult, HostSpec, LogLine, LogStream, Outcome
from forgeml.training.volume import ENOSPC_TEXT, HostVolume
from forgeml.training.warm_pool import WarmPool

_TICK_S = 0.05
_Item = tuple[LogStream, datetime, str | None]


@dataclass
class _Launch:
    """Everything Popen needs, plus the fds the launcher must close afterwards."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    program: list[str]  # the program's own argv, as it sees it (for the failure text)
    pass_fds: tuple[int, ...] = ()
    info_read: int | None = None
    close_after: list[int] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _plain_launch(spec: HostSpec, layout: HostLayout, volume: HostVolume) -> _Launch:
    home = volume.scratch  # HOME and TMPDIR count against the volume
    root = str(layout.root)
    env = build_env(spec, root, home=str(home), python_bin=str(spec.python.parent))
    argv = program_argv(spec, root)
    return _Launch(argv, env, layout.code_dir, argv)


def _jailed_launch(
    spec: HostSpec, layout: HostLayout, network: sb.JobNetwork | None, volume: HostVolume
) -> _Launch:
    env = build_env(spec, SANDBOX_ROOT, home=JAIL_TMP, python_bin=str(spec.python.parent))
    shared = network is not None and not spec.network_allowed
    options = sb.bwrap_options(spec, layout, env, shared_net=shared, tmp=volume.scratch)
    args_fd = sb.options_fd(options)
    info_read, info_write = os.pipe()
    prefix = network.command_prefix() if shared and network is not None else []
    argv = [*prefix, str(sb.BWRAP), "--args", str(args_fd), "--info-fd", str(info_write)]
    program = program_argv(spec, SANDBOX_ROOT)
    # bwrap's own environment is irrelevant (--clearenv); keep the launcher's out of it anyway.
    return _Launch(
        argv + program,
        {"PATH": "/usr/bin:/bin"},
        layout.root,
        program,
        pass_fds=(args_fd, info_write),
        info_read=info_read,
        close_after=[args_fd, info_write],
    )


def _reader(stream: IO[bytes], name: LogStream, out: queue.Queue[_Item]) -> None:
    for raw in iter(lambda: stream.readline(MAX_LOG_LINE), b""):
        out.put((name, _now(), raw.decode("utf-8", "replace").rstrip("\r\n")))
    out.put((name, _now(), None))


class _Run:
    """State of one supervised run; methods are the steps of `run_host`."""

    def __init__(
        self,
        spec: HostSpec,
        layout: HostLayout,
        on_log: Callable[[LogLine], None],
        volume: HostVolume,
    ) -> None:
        self.spec = spec
        self.volume = volume
        self.on_log = on_log
        self.metrics = MetricScraper(spec.metric_definitions)
        self.lines: queue.Queue[_Item] = queue.Queue()
        self.open_streams = 2
        self.stderr = StderrTail()
        # Tenants read every line: no host path in any mode, no algorithm source when redacted.
        self.paths = host_paths(spec, layout)
        redacted = spec.log_visibility == "redacted"
        self.filters: dict[LogStream, LogFilter] = {
            "stdout": LogFilter(self.paths, redacted=redacted),
            "stderr": LogFilter(self.paths, redacted=redacted),
            "system": LogFilter(self.paths, redacted=False),
        }

    def emit(self, stream: LogStream, text: str, at: datetime | None = None) -> None:
        at = at or _now()
        shown = self.filters[stream](text)
        if shown is None:
            return
        if stream != "system":
            self.metrics.feed(shown, at)
        if stream == "stderr":
            self.stderr.add(shown)
        self.on_log(LogLine(at, self.spec.host, stream, shown))

    def shown_reason(self, reason: str | None) -> str | None:
        """A failure reason as tenants may read it (the failure file may hold a traceback)."""
        if reason is None:
            return None
        redacted = self.spec.log_visibility == "redacted"
        shown = LogFilter(self.paths, redacted=redacted).text(reason)
        return shown[:FAILURE_CHARS].strip() or None

    def drain(self, timeout_s: float) -> None:
        with contextlib.suppress(queue.Empty):
            item = self.lines.get(timeout=timeout_s)
            while True:
                name, at, text = item
                if text is None:
                    self.open_streams -= 1
                else:
                    self.emit(name, text, at)
                item = self.lines.get_nowait()

    def supervise(
        self, proc: subprocess.Popen[bytes], tree: ProcessTree, stop: threading.Event
    ) -> Outcome | None:
        """Stream lines until the program exits; SIGTERM then SIGKILL on stop or max runtime."""
        deadline = time.monotonic() + self.spec.max_runtime_s
        reason: Outcome | None = None
        kill_at = float("inf")
        while proc.poll() is None:
            self.drain(_TICK_S)
            now = time.monotonic()
            if reason is None and (stop.is_set() or now >= deadline):
                reason = Outcome.STOPPED if stop.is_set() else Outcome.MAX_RUNTIME_EXCEEDED
                self.emit("system", f"{reason.value}: sending SIGTERM to all processes")
                tree.terminate()
                kill_at = now + self.spec.stop_grace_s
            elif reason is None and self.volume.over_limit():
                reason = Outcome.FAILED
                self.emit("system", f"{self.volume.message}: sending SIGTERM to all processes")
                tree.terminate()
                kill_at = now + self.spec.stop_grace_s
            elif now >= kill_at:
                self.emit("system", "grace period over: sending SIGKILL to all processes")
                tree.kill()
                kill_at = float("inf")
        return reason

    def finish_streams(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.open_streams > 0 and time.monotonic() < deadline:
            self.drain(_TICK_S)
        self.drain(0)


def _start(launch: _Launch, pre: Callable[[], None]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            launch.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=launch.env,
            cwd=launch.cwd,
            start_new_session=True,
            preexec_fn=pre,  # rlimits and cgroup must be set before exec
            pass_fds=launch.pass_fds,
        )
    finally:
        for fd in launch.close_after:
            os.close(fd)


def _failure_reason(outcome: Outcome, code: int, layout: HostLayout, spec: HostSpec) -> str | None:
    if outcome == Outcome.COMPLETED:
        return None
    # More than the 1024 shown: filtering shortens host paths before the text is cut.
    written = read_failure(layout.failure_file, chars=FAILURE_CHARS * 4)
    if written:
        return written
    if outcome == Outcome.MAX_RUNTIME_EXCEEDED:
        return f"MaxRuntimeExceeded: the job ran longer than {spec.max_runtime_s:g} seconds"
    if outcome == Outcome.STOPPED:
        return "Stopped: the job was stopped on request"
    return None


def _report_end(
    run: _Run, outcome: Outcome, code: int, layout: HostLayout, program: list[str], *, jailed: bool
) -> str | None:
    """Write output/success or output/failure as the toolkit does; return the failure reason
    as tenants read it (no host path; no algorithm frame when logs are redacted)."""
    reason = _failure_reason(outcome, code, layout, run.spec)
    if outcome == Outcome.COMPLETED and run.spec.mode == "script":
        if write_once(layout.success_file, ""):
            run.emit("system", "wrote output/success")
    elif outcome == Outcome.FAILED and reason is None:
        reason = failure_text(code, run.stderr, program, sandboxed=jailed)
        reason = run.shown_reason(reason) or reason  # the file says what tenants read
        write_once(layout.failure_file, reason)
    return run.shown_reason(reason)


def _limits_line(
    jailed: bool, rlimits: Rlimits, tree: ProcessTree, pid: int, volume: HostVolume
) -> str:
    mode = "sandbox=bwrap" if jailed else "sandbox=off (no isolation)"
    cgroup = tree.cgroup
    in_force = cgroup.describe() if cgroup is not None and cgroup.holds(pid) else "no cgroup"
    return f"{mode}; {rlimits.describe()}; {in_force}; {volume.describe()}"


def run_host(
    spec: HostSpec,
    *,
    on_log: Callable[[LogLine], None],
    stop: threading.Event,
    sandbox: sb.SandboxMode = "auto",
    network: sb.JobNetwork | None = None,
    checkpoints_from: Path | None = None,
    checkpoint_sync: CheckpointSync | None = None,
    checkpoint_interval_s: float = 300.0,
    warm_pool: WarmPool | None = None,
) -> HostResult:
    """Run one host to the end; no process of it is left when this returns.

    `network`: the job's shared loopback namespace, for multi-host jobs without network access.
    `warm_pool`: where a ready interpreter may come from (else, or when none is, a cold start).
    """
    validate_spec(spec)
    choice = sb.choose(sandbox)
    volume = HostVolume(spec, spec.volume_mode).open()
    try:
        return _run_in_volume(
            spec, volume, choice, on_log, stop, network, checkpoints_from, checkpoint_sync,
            checkpoint_interval_s, warm_pool,
        )  # fmt: skip
    finally:
        volume.close()


def _start_cold(
    spec: HostSpec,
    layout: HostLayout,
    network: sb.JobNetwork | None,
    volume: HostVolume,
    choice: sb.SandboxChoice,
    rlimits: Rlimits,
    cgroup: Cgroup | None,
) -> tuple[subprocess.Popen[bytes], ProcessTree, list[str]]:
    launch = (
        _jailed_launch(spec, layout, network, volume)
        if choice.use_bwrap
        else _plain_launch(spec, layout, volume)
    )
    try:
        proc = _start(launch, preexec(rlimits, cgroup))
    except BaseException:
        if launch.info_read is not None:
            os.close(launch.info_read)
        if cgroup is not None:
            cgroup.remove()
        raise
    tree = ProcessTree(proc.pid, cgroup)
    if launch.info_read is not None:
        init = sb.read_info(launch.info_read).get("child-pid")
        os.close(launch.info_read)
        tree.sandbox_init, tree.namespace = init, pid_namespace(init) if init else None
    return proc, tree, launch.program


def _run_in_volume(
    spec: HostSpec,
    volume: HostVolume,
    choice: sb.SandboxChoice,
    on_log: Callable[[LogLine], None],
    stop: threading.Event,
    network: sb.JobNetwork | None,
    checkpoints_from: Path | None,
    checkpoint_sync: CheckpointSync | None,
    checkpoint_interval_s: float,
    warm_pool: WarmPool | None,
) -> HostResult:
    layout = build_tree(spec)
    run = _Run(spec, layout, on_log, volume)
    if checkpoints_from is not None:
        restored = restore_checkpoints(checkpoints_from, layout.checkpoints_dir)
        run.emit("system", f"restored {restored} checkpoint files")
    rlimits = Rlimits.for_spec(spec)
    cgroup = create_cgroup(spec)
    started_at = _now()
    syncer = PeriodicSync(
        checkpoint_sync,
        layout.checkpoints_dir,
        checkpoint_interval_s,
        lambda m: run.emit("system", m),
    )
    # Armed before the program starts: a warm start writes its first checkpoint within
    # milliseconds, and a save made before the watch exists would wait for the periodic sync.
    syncer.start()
    warm = None
    try:
        if choice.use_bwrap and warm_pool is not None:
            warm = warm_pool.start(spec, layout, volume, rlimits, cgroup)
        if warm is not None:
            proc, tree, program = warm.proc, warm.tree, warm.program
        else:
            proc, tree, program = _start_cold(
                spec, layout, network, volume, choice, rlimits, cgroup
            )
    except BaseException:
        syncer.finish()
        raise
    line = _limits_line(choice.use_bwrap, rlimits, tree, proc.pid, volume)
    run.emit("system", line + ("; start=warm" if warm is not None else ""))
    if choice.warning:
        run.emit("system", choice.warning)
    readers = [
        threading.Thread(target=_reader, args=(s, n, run.lines), daemon=True)
        for s, n in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
    ]
    for thread in readers:
        thread.start()
    try:
        reason = run.supervise(proc, tree, stop)
    finally:
        # The leader is gone (or we are unwinding): nothing of the run may outlive this call.
        tree.kill()
        proc.wait()
        if not tree.wait_gone(10.0):
            run.emit("system", f"processes still alive after kill: {tree.members()}")
        run.finish_streams()
        if cgroup is not None:
            cgroup.remove()
        if warm is not None:
            warm.slot.release()  # before the volume goes: its folders are mounted in the slot
    ended_at = _now()
    code = proc.returncode
    outcome = reason or (Outcome.COMPLETED if code == 0 else Outcome.FAILED)
    syncer.finish()
    model = pack(layout.model_dir, layout.artifacts_dir / "model.tar.gz")
    output = pack(layout.output_data_dir, layout.artifacts_dir / "output.tar.gz")
    ended = outcome in (Outcome.COMPLETED, Outcome.FAILED)
    enospc = ENOSPC_TEXT in run.stderr.message(FAILURE_CHARS * 8)
    over = volume.verdict(failed=outcome == Outcome.FAILED, enospc=enospc) if ended else None
    if over is not None:
        outcome = Outcome.FAILED
        write_once(layout.failure_file, over)
    reason_text = _report_end(run, outcome, code, layout, program, jailed=choice.use_bwrap)
    # The platform's diagnosis beats whatever the program wrote about its ENOSPC.
    reason_text = over or reason_text
    run.emit(
        "system",
        f"{outcome.value} (exit code {code})" + (f": {reason_text}" if reason_text else ""),
    )
    return HostResult(
        exit_code=code,
        outcome=outcome,
        failure_reason=reason_text,
        metrics_final=run.metrics.final(),
        metric_series=run.metrics.series(),
        started_at=started_at,
        ended_at=ended_at,
        model_artifact=model,
        output_artifact=output,
        sandboxed=choice.use_bwrap,
        over_limit=over is not None,
    )
