"""Per-digest algorithm virtualenvs: built once, cached, and shared read-only by every job.

Builds are serialised per digest with `fcntl.flock`, so threads and processes build only once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TextIO

from forgeml.domain.algorithms import relative_path_problem
from forgeml.domain.build_progress import BuildPhase
from forgeml.domain.errors import ForgeError, InvalidInput
from forgeml.training import build_jail as bj
from forgeml.training.build_jail import BuildIsolation
from forgeml.training.installer import Installer, InstallerChoice

MARKER = ".forgeml-env.json"  # written last: an env without it is a half build and never used
LOG_TAIL_BYTES = 2048
DEFAULT_TIMEOUT_S = 1800.0


class EnvironmentBuildFailed(ForgeError):
    """Creating the venv or installing the requirements failed; `log_tail` says why."""

    code = "environment_build_failed"

    def __init__(self, digest: str, log_tail: str):
        super().__init__(
            f"building the environment for {digest} failed",
            details={"digest": digest, "log_tail": log_tail},
        )
        self.log_tail = log_tail


class BuildObserver(Protocol):
    """Sees a build as it runs (e.g. records it where every process reads it); never fails it."""

    def phase(self, phase: BuildPhase) -> None: ...

    def line(self, text: str) -> None: ...


class EnvironmentStatus(StrEnum):
    """What `EnvironmentCache.status` reports for a digest."""

    BUILT = "built"
    MISSING = "missing"
    FAILED = "failed"  # the last build failed; the next `ensure` tries again


@dataclass(frozen=True)
class EnvironmentInfo:
    """A ready environment: its interpreter, its folder, and whether this call built it."""

    python: Path
    path: Path
    built: bool


class EnvironmentCache:
    """Virtualenvs under `root/<digest-hex>/`, with `<hex>.log`, `<hex>.lock`, `<hex>.failed`.

    Each env is a plain venv (no system site-packages): an algorithm gets exactly what its
    requirements install, never the server's own packages. Without requirements it gets only
    the standard library (and pip, with the pip fallback). uv (`installer="auto"`, when found)
    builds it, with one download cache under `root` for every build; `"pip"` forces the fallback.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        python: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        isolation: BuildIsolation | None = None,
        installer: InstallerChoice = "auto",
    ):
        self.root = Path(root)
        self.python = python or sys.executable
        self.timeout_s = timeout_s
        self.isolation = isolation or BuildIsolation()
        self.installer = Installer.choose(installer, self.root, self.isolation)

    def path(self, digest: str) -> Path:
        """Where the environment of `digest` lives (built or not)."""
        return self.root / _hex(digest)

    def ensure(
        self,
        digest: str,
        code_dir: Path | str,
        requirements: str | None,
        *,
        log_path: Path | None = None,
        observer: BuildObserver | None = None,
    ) -> EnvironmentInfo:
        """Return the environment of `digest`, building it first if needed (once, under a lock).

        Build output goes to the cache's `<hex>.log` and, when given, is appended to `log_path`
        and handed to `observer` line by line, with the phase at each step (only if it builds).
        Raise `EnvironmentBuildFailed` (nothing half-built is left) or `InvalidInput` for a bad
        requirements path.
        """
        env = self.path(digest)
        if (env / MARKER).is_file():
            return _info(env, built=False)
        self.root.mkdir(parents=True, exist_ok=True)
        failed_before = _read(self._file(digest, "failed"))
        with self._locked(digest):
            if (env / MARKER).is_file():
                return _info(env, built=False)
            if _read(self._file(digest, "failed")) != failed_before:
                # The build we waited for failed just now: report it instead of repeating it.
                raise EnvironmentBuildFailed(digest, self._tail(digest))
            self._build(digest, Path(code_dir), requirements, log_path, observer)
        return _info(env, built=True)

    def status(self, digest: str) -> EnvironmentStatus:
        """Built, missing, or failed (the last attempt failed and nothing is built)."""
        if (self.path(digest) / MARKER).is_file():
            return EnvironmentStatus.BUILT
        if self._file(digest, "failed").exists():
            return EnvironmentStatus.FAILED
        return EnvironmentStatus.MISSING

    def log(self, digest: str) -> str:
        """Every build attempt's output for `digest` ("" if none was made)."""
        path = self._file(digest, "log")
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self, digest: str) -> None:
        """Delete the environment, its log and failure mark (e.g. when a version is deleted)."""
        with self._locked(digest):
            _force_rmtree(self.path(digest))
            for kind in ("failed", "log"):
                self._file(digest, kind).unlink(missing_ok=True)

    def _file(self, digest: str, kind: str) -> Path:
        return self.root / f"{_hex(digest)}.{kind}"

    @contextlib.contextmanager
    def _locked(self, digest: str) -> Iterator[None]:
        # flock locks belong to the open file description, so this excludes other threads
        # of this process (each call opens its own) as well as other processes.
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._file(digest, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _build(
        self,
        digest: str,
        code_dir: Path,
        requirements: str | None,
        log_path: Path | None,
        observer: BuildObserver | None,
    ) -> None:
        env = self.path(digest)
        req = _requirements_file(code_dir, requirements)
        _force_rmtree(env)  # leftovers of a build that crashed midway are never reused
        env.mkdir(parents=True)
        with _BuildLog(self._file(digest, "log"), log_path, observer) as log:
            log.phase(BuildPhase.CREATING)
            log.write(f"=== building environment {digest} with {self.python} at {_now()}\n")
            try:
                jail = bj.jailed(self.isolation)
                log.write(f"=== {'in the build jail' if jail else 'SANDBOX OFF'}, scrubbed env\n")
                tool = self.installer.for_build(jail)
                log.write(f"=== installer: {tool.name}\n")
                self._run(tool.venv(self.python, env), code_dir, log, env, jail)
                if req is not None:
                    if ignored := tool.ignored_settings():
                        log.write(f"=== pip settings uv does not apply: {', '.join(ignored)}\n")
                    # Relative paths in a requirements file resolve against the bundle (cwd).
                    log.phase(BuildPhase.RESOLVING)
                    self._run(tool.install(env, req), code_dir, log, env, jail)
                _write_marker(env, digest, self.python)
                _make_read_only(env)
            except Exception as exc:
                log.phase(BuildPhase.FAILED)
                log.write(f"=== build failed: {exc}\n")
                _force_rmtree(env)
                self._file(digest, "failed").write_text(f"{_now()} {os.getpid()}\n")
                raise EnvironmentBuildFailed(digest, self._tail(digest)) from exc
            log.phase(BuildPhase.DONE)
            log.write(f"=== build succeeded at {_now()}\n")
        self._file(digest, "failed").unlink(missing_ok=True)

    def _run(self, cmd: list[str], cwd: Path, log: _BuildLog, env_dir: Path, jail: bool) -> None:
        log.write(f"$ {' '.join(cmd)}\n")
        scratch = bj.bundle_copy(cwd, env_dir) if jail else bj.host_home(env_dir)
        try:
            if jail:
                argv = bj.build_argv(
                    self.isolation,
                    cmd,
                    python=Path(self.python),
                    code_dir=cwd,
                    source=scratch,
                    env_dir=env_dir,
                    tools=self.installer.binds(),
                )
                environ = {"PATH": bj.BUILD_PATH}  # bwrap's own; the jail's is set by --setenv
            else:
                argv, environ = cmd, self.isolation.environ(str(scratch))
            self._spawn(argv, environ, cwd, log, " ".join(cmd[:3]))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _spawn(
        self, argv: list[str], environ: dict[str, str], cwd: Path, log: _BuildLog, what: str
    ) -> None:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(self.timeout_s, kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
            rc = proc.wait()
        finally:
            timer.cancel()
        if rc != 0:
            why = f"timed out after {self.timeout_s:g} s" if timed_out.is_set() else f"exited {rc}"
            raise RuntimeError(f"{what} {why}")

    def _tail(self, digest: str) -> str:
        path = self._file(digest, "log")
        if not path.exists():
            return ""
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return f.read().decode(errors="replace")


class _BuildLog:
    """Appends build output to the cache's log and, optionally, to a caller's log file and
    observer."""

    def __init__(self, own: Path, extra: Path | None, observer: BuildObserver | None = None):
        paths = [own] + ([extra] if extra is not None and extra != own else [])
        self._files: list[TextIO] = [p.open("a", encoding="utf-8") for p in paths]
        self._observer = observer

    def write(self, text: str) -> None:
        for f in self._files:
            f.write(text)
            f.flush()  # readers tail these logs while a long build runs
        if self._observer is not None:
            self._observer.line(text)

    def phase(self, phase: BuildPhase) -> None:
        if self._observer is not None:
            self._observer.phase(phase)

    def __enter__(self) -> _BuildLog:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._files:
            f.close()


def _hex(digest: str) -> str:
    hex_part = digest.removeprefix("sha256:")
    if len(hex_part) != 64 or not all(c in "0123456789abcdef" for c in hex_part):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return hex_part


def _info(env: Path, *, built: bool) -> EnvironmentInfo:
    return EnvironmentInfo(python=env / "bin" / "python", path=env, built=built)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _requirements_file(code_dir: Path, requirements: str | None) -> Path | None:
    if requirements is None:
        return None
    problem = relative_path_problem(requirements)
    path = (code_dir / requirements).resolve()
    if problem is None and not path.is_relative_to(code_dir.resolve()):
        problem = f"{requirements!r} points outside the bundle"
    if problem is None and not path.is_file():
        problem = f"{requirements!r} is not a file in {code_dir}"
    if problem:
        raise InvalidInput.fields([{"loc": "requirements", "msg": problem}])
    return path


def _write_marker(env: Path, digest: str, python: str) -> None:
    info = {"digest": digest, "base_python": python, "built_at": _now()}
    tmp = env / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.rename(env / MARKER)  # atomic: readers see no marker or a complete one


def _make_read_only(root: Path) -> None:
    """chmod -R a-w, leaving symlinks alone (bin/python points at the base interpreter)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            _chmod(Path(dirpath) / name, clear=0o222)
    _chmod(root, clear=0o222)


def _force_rmtree(path: Path) -> None:
    """rmtree that first gives the owner write access back to read-only directories."""
    if not path.exists() and not path.is_symlink():
        return
    for dirpath, dirnames, _ in os.walk(path):
        _chmod(Path(dirpath), add=stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        for name in dirnames:
            _chmod(Path(dirpath) / name, add=stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
    shutil.rmtree(path)


def _chmod(path: Path, *, clear: int = 0, add: int = 0) -> None:
    mode = os.lstat(path).st_mode
    if not stat.S_ISLNK(mode):
        os.chmod(path, (stat.S_IMODE(mode) & ~clear) | add)
