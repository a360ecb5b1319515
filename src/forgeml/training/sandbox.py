"""The bubblewrap jail around one host's training program, and the job's shared loopback network.

What each mode guarantees (also in docs/sandbox.md):

- `required`: every run is jailed by bwrap, or refused (`Unavailable`) when bwrap is missing or
  fails its self-test. The program sees only /usr, the algorithm's python, its code (read-only),
  its channels and input/config (read-only), and writable model/, output/, checkpoints/, /tmp.
  Fresh pid, ipc, uts, mount, user, cgroup and network namespaces; no network at all (or only a
  loopback shared with the job's other hosts) unless the spec allows network; cleared environment
  (only the contract's variables); uid/gid 65534 with no capabilities and no-new-privs; killing the
  namespace's init kills every process of the run. Plus everything `off` gives.
- `auto`: as `required` when bwrap works; otherwise runs as `off` and says so in a loud warning
  (first log lines of the job and the process log).
- `off`: a plain subprocess in a new session and process group with rlimits (AS, NPROC, FSIZE,
  NOFILE, CORE=0) and a cgroup when writable; environment still only the contract's; stop and max
  runtime kill the group and the cgroup. NOT isolated: the program can read whatever the launcher's
  user can read and use the network. Without a cgroup, a process that leaves its session escapes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from forgeml.domain.errors import Unavailable
from forgeml.training.contract import JAIL_TMP, SANDBOX_ROOT, HostLayout
from forgeml.training.spec import HostSpec

SandboxMode = Literal["required", "auto", "off"]
BWRAP = Path("/usr/bin/bwrap")
NOBODY = 65534
log = logging.getLogger(__name__)
_BASE = [
    "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
    "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
    "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
    "--proc", "/proc", "--dev", "/dev", "--tmpfs", JAIL_TMP,
    "--uid", str(NOBODY), "--gid", str(NOBODY),
]  # fmt: skip
BASE_OPTIONS = tuple(_BASE)  # every jail's first options (warm ones too)
_NET_FILES = ("/etc/resolv.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/pki")


@dataclass(frozen=True)
class SandboxChoice:
    """Whether this run is jailed, and the warning to log when `auto` fell back."""

    use_bwrap: bool
    warning: str | None = None


@functools.lru_cache(maxsize=4)
def self_test(bwrap: Path = BWRAP) -> str | None:
    """Run a trivial jailed program once per process; the problem found, or None when it works."""
    if not os.access(bwrap, os.X_OK):
        return f"{bwrap} is not installed (apt package bubblewrap)"
    try:
        done = subprocess.run(
            [str(bwrap), *_BASE, "/usr/bin/true"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap self-test could not run: {exc}"
    if done.returncode != 0:
        return f"bwrap self-test failed ({done.returncode}): {done.stderr.decode()[-300:]}"
    return None


def choose(mode: SandboxMode, bwrap: Path = BWRAP) -> SandboxChoice:
    """Apply the configured mode to what this machine can do (see the module docstring)."""
    if mode == "off":
        return SandboxChoice(False)
    problem = self_test(bwrap)
    if problem is None:
        return SandboxChoice(True)
    if mode == "required":
        raise Unavailable(f"sandbox required but unusable: {problem}", code="sandbox_unavailable")
    warning = f"SANDBOX DISABLED: {problem}; running WITHOUT isolation (sandbox=auto)"
    log.warning(warning)
    return SandboxChoice(False, warning)


def python_roots(python: Path) -> list[Path]:
    """Folders the interpreter needs: its venv and the base installation the venv points at."""
    roots = {python.resolve().parent.parent}
    venv = python.parent.parent
    cfg = venv / "pyvenv.cfg"
    if cfg.is_file():
        roots.add(venv.resolve())
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                roots.add(Path(value.strip()).resolve().parent)
    usr = Path("/usr")
    return sorted(r for r in roots if r != usr and not r.is_relative_to(usr))


ETC_FILES = ("hosts", "passwd", "group", "nsswitch.conf")


def write_etc(spec: HostSpec, layout: HostLayout) -> Path:
    """/etc files of the jail: every algo-K resolves, and the user 65534 has a name."""
    etc = layout.private_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    hosts = ["127.0.0.1 localhost", "::1 localhost"]
    hosts += [f"{spec.address_of(h)} {h}" for h in spec.hosts]
    (etc / "hosts").write_text("\n".join(hosts) + "\n")
    (etc / "passwd").write_text(f"nobody:x:{NOBODY}:{NOBODY}:nobody:/tmp:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"nogroup:x:{NOBODY}:\n")
    lookup = "files dns" if spec.network_allowed else "files"
    (etc / "nsswitch.conf").write_text(f"passwd: files\ngroup: files\nhosts: {lookup}\n")
    return etc


def _gpu_devices(spec: HostSpec) -> list[str]:
    names = [f"/dev/nvidia{i}" for i in spec.gpu_indices]
    if spec.gpu_indices:
        names += ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    args: list[str] = []
    for name in names:
        if Path(name).exists():
            args += ["--dev-bind", name, name]
    return args


def bwrap_options(
    spec: HostSpec,
    layout: HostLayout,
    env: dict[str, str],
    *,
    shared_net: bool,
    tmp: Path | None = None,
) -> list[str]:
    """All bwrap options for this host (without the program); mounts in the order they apply.

    `tmp`: a folder of the job's volume to serve as /tmp (else a tmpfs, charged to memory).
    """
    opts = list(_BASE)
    if tmp is not None:
        opts += ["--bind", str(tmp), JAIL_TMP]
    if spec.network_allowed or shared_net:
        opts.append("--share-net")
    for root in python_roots(spec.python):
        opts += ["--ro-bind", str(root), str(root)]
    etc = write_etc(spec, layout)
    for name in ETC_FILES:
        opts += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    if spec.network_allowed:
        opts += [a for f in _NET_FILES if Path(f).exists() for a in ("--ro-bind", f, f)]
    ml = SANDBOX_ROOT
    opts += ["--ro-bind", str(spec.code_dir.resolve()), f"{ml}/code"]
    opts += ["--ro-bind", str(layout.config_dir), f"{ml}/input/config", "--dir", f"{ml}/input/data"]
    for name, channel in sorted(spec.channels.items()):
        opts += ["--ro-bind", str(channel.source.resolve()), f"{ml}/input/data/{name}"]
    for sub in ("model", "output", spec.checkpoint_rel):
        opts += ["--bind", str(layout.root / sub), f"{ml}/{sub}"]
    opts += _gpu_devices(spec)
    # The jail's own root is a tmpfs: make it read-only so the program writes only where allowed.
    opts += ["--remount-ro", "/", "--hostname", spec.host, "--chdir", f"{ml}/code"]
    for key, value in sorted(env.items()):
        opts += ["--setenv", key, value]
    return opts


_ARITY = {"--bind": 2, "--ro-bind": 2, "--dev-bind": 2, "--symlink": 2, "--setenv": 2}
_ONE = {"--proc", "--dev", "--tmpfs", "--dir", "--remount-ro", "--hostname", "--chdir", "--uid",
        "--gid"}  # fmt: skip


def option_groups(options: list[str]) -> list[tuple[str, ...]]:
    """Options split into (option, *its arguments), so two jails' flags can be compared."""
    groups: list[tuple[str, ...]] = []
    i = 0
    while i < len(options):
        arity = _ARITY.get(options[i], 1 if options[i] in _ONE else 0)
        groups.append(tuple(options[i : i + 1 + arity]))
        i += 1 + arity
    return groups


def read_info(fd: int, timeout_s: float = 10.0) -> dict[str, int]:
    """bwrap's --info-fd JSON (child-pid = the jail's init, as seen from here)."""
    data = b""
    deadline = time.monotonic() + timeout_s
    decoder = json.JSONDecoder()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            data += chunk
            with contextlib.suppress(ValueError):
                info, _ = decoder.raw_decode(data.decode())
                return dict(info)
            if not chunk:
                break
    return {}


def options_fd(options: list[str]) -> int:
    """An anonymous file holding the options NUL-separated, for `bwrap --args FD`.

    Passing them by fd keeps tenant environment values out of the host's process list.
    """
    fd = os.memfd_create("forgeml-bwrap-args", 0)
    os.write(fd, b"".join(o.encode() + b"\0" for o in options))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class JobNetwork:
    """A private network namespace with only `lo` (up), shared by all hosts of one job on a node.

    Hosts jailed with bwrap join it (`nsenter --net`) and keep it (`--share-net`), so algo-1 and
    algo-2 reach each other over 127.0.0.1 while nothing outside the job is reachable. A holder
    process (`unshare --net sleep`) keeps the namespace alive until `close()`.
    """

    def __init__(self) -> None:
        self._holder: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> JobNetwork:
        own = os.readlink("/proc/self/ns/net")
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--", "sleep", "infinity"], start_new_session=True
        )
        deadline = time.monotonic() + 10
        # unshare execs sleep only after the namespace exists; wait until the switch is visible.
        while os.readlink(self.path) == own:
            if time.monotonic() > deadline or self._holder.poll() is not None:
                self.close()
                raise Unavailable("could not create the job's network namespace")
            time.sleep(0.01)
        subprocess.run(
            ["nsenter", f"--net={self.path}", "ip", "link", "set", "lo", "up"], check=True
        )
        return self

    @property
    def path(self) -> str:
        if self._holder is None or self._holder.poll() is not None:
            raise Unavailable("the job's network namespace is gone")
        return f"/proc/{self._holder.pid}/ns/net"

    def command_prefix(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    def close(self) -> None:
        if self._holder is not None and self._holder.poll() is None:
            self._holder.kill()
            self._holder.wait()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
