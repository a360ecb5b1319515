"""One warm interpreter's slot: the host folders its jail binds at /opt/ml, /tmp and /etc, into
which a job's own mounts are made later (they propagate into the running jail).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from forgeml.training import mounts
from forgeml.training.contract import JAIL_TMP, SANDBOX_ROOT
from forgeml.training.sandbox import ETC_FILES

Group = tuple[str, ...]
_ML = PurePosixPath(SANDBOX_ROOT)
_ETC_TARGETS = {f"/etc/{name}" for name in ETC_FILES}


def under_ml(target: str) -> bool:
    return PurePosixPath(target).is_relative_to(_ML)


def job_specific(group: Group) -> bool:
    """Options a warm jail cannot have at its start: the job's mounts, environment and cwd."""
    option, args = group[0], group[1:]
    if option in ("--setenv", "--chdir"):
        return True
    if option in ("--bind", "--ro-bind"):
        return under_ml(args[1]) or args[1] == JAIL_TMP or args[1] in _ETC_TARGETS
    return option == "--dir" and under_ml(args[0])


@dataclass
class Slot:
    """`ml` and `tmp` are shared mount points; `stage` holds read-only binds before they move."""

    root: Path

    @property
    def ml(self) -> Path:
        return self.root / "ml"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def stage(self) -> Path:
        return self.root / "stage"

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        mounts.shared_point(self.ml)
        mounts.shared_point(self.tmp)
        mounts.private_point(self.stage)
        self.etc.mkdir(exist_ok=True)
        for name in ETC_FILES:
            (self.etc / name).touch()

    def stage_job(self, groups: list[Group]) -> None:
        """Make the cold jail's /opt/ml, /tmp and /etc mounts of `groups` here, in their order.

        /opt/ml is a fresh tmpfs, read-only once its mount points exist (as the cold jail's
        read-only root). Read-only binds are made read-only before they reach the shared point:
        a bind copies the flag, a later remount would not propagate.
        """
        mounts.mount("tmpfs", self.ml, "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV, "mode=0755")
        for n, group in enumerate(groups):
            option, args = group[0], group[1:]
            if option == "--dir" and under_ml(args[0]):
                self._target(args[0]).mkdir(parents=True, exist_ok=True)
            elif option in ("--bind", "--ro-bind") and args[1] in _ETC_TARGETS:
                # Written in place: the jail binds these very inodes.
                (self.etc / PurePosixPath(args[1]).name).write_bytes(Path(args[0]).read_bytes())
            elif option == "--bind" and args[1] == JAIL_TMP:
                mounts.bind(Path(args[0]), self.tmp)
            elif option in ("--bind", "--ro-bind") and under_ml(args[1]):
                self._mount(Path(args[0]), args[1], option == "--ro-bind", n)
        flags = mounts.MS_REMOUNT | mounts.MS_RDONLY | mounts.MS_NOSUID | mounts.MS_NODEV
        mounts.mount("none", self.ml, None, flags)

    def _target(self, target: str) -> Path:
        return self.ml / PurePosixPath(target).relative_to(_ML)

    def _mount(self, source: Path, target: str, read_only: bool, n: int) -> None:
        where = self._target(target)
        _make_point(where, source)
        if not read_only:
            mounts.bind(source, where)
            return
        staged = self.stage / str(n)
        _make_point(staged, source)
        mounts.bind(source, staged)
        mounts.read_only(staged)
        mounts.bind(staged, where)

    def release(self) -> None:
        """Unmount everything of the slot and remove it (the jail using it is gone)."""
        mounts.release(self.root)
        # Never remove through a mount that is still there: it may be a job's own folder.
        if not mounts.points_under(self.root):
            shutil.rmtree(self.root, ignore_errors=True)


def _make_point(where: Path, source: Path) -> None:
    if source.is_dir():
        where.mkdir(parents=True, exist_ok=True)
    else:
        where.parent.mkdir(parents=True, exist_ok=True)
        where.touch()
