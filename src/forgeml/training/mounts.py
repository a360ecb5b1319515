"""mount(2) and umount2(2) through libc, for the warm pool's slots (root only; no subprocess).

A slot's folders are shared mount points that a warm sandbox binds: mounts made under them here
later propagate into that sandbox (bwrap makes its mounts slaves of the host's).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: Path, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            str(target).encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def detach(target: Path) -> None:
    """Lazy unmount (the whole subtree goes once nothing uses it)."""
    _check(_libc.umount2(str(target).encode(), MNT_DETACH), f"umount {target}")


def shared_point(path: Path) -> None:
    """Make `path` a mount point of its own peer group (mounts under it propagate to binds)."""
    path.mkdir(parents=True, exist_ok=True)
    mount(str(path), path, None, MS_BIND)
    mount("none", path, None, MS_PRIVATE)  # leave whatever group the parent belongs to
    mount("none", path, None, MS_SHARED)


def private_point(path: Path) -> None:
    """A mount point whose submounts propagate nowhere (the read-only staging area)."""
    path.mkdir(parents=True, exist_ok=True)
    mount(str(path), path, None, MS_BIND)
    mount("none", path, None, MS_PRIVATE)


def bind(source: Path, target: Path) -> None:
    """Recursive bind, as bwrap's --bind does."""
    mount(str(source), target, None, MS_BIND | MS_REC)


def read_only(target: Path) -> None:
    """Make the bind mount at `target` read-only (its later binds copy the flag)."""
    mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def points_under(root: Path) -> list[Path]:
    """Mount points strictly below or at `root`, deepest first (from /proc/self/mountinfo)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        raw = line.split()[4]
        point = Path(raw.encode().decode("unicode_escape"))
        if point == root or point.is_relative_to(root):
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def release(root: Path) -> None:
    """Detach every mount at or under `root` (best effort: a leak only costs a mount entry)."""
    for point in points_under(root):
        try:
            detach(point)
        except OSError:
            continue
