"""Files in and out of a host run: checkpoint restore/sync and packing model/ and output/data/.

The program wrote these folders, so nothing here follows a symlink it may have planted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from forgeml.training.fswatch import CloseWatcher
from forgeml.training.volume import release_stale

CheckpointSync = Callable[[Path], None]
_TICK_S = 0.5  # how soon the loop notices finish()
_SETTLE_S = 0.2
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def walk_files(folder: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative posix path, stat) of every regular file under `folder`; links are skipped,
    linked folders never entered."""
    if folder.is_symlink() or not folder.is_dir():
        return
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))
        for name in sorted(files):
            st = os.lstat(os.path.join(top, name))
            if stat.S_ISREG(st.st_mode):
                yield Path(top, name).relative_to(folder).as_posix(), st


def open_inside(folder: Path, rel: str) -> BinaryIO:
    """Open `folder/rel` for reading without following any link on the way (the program may
    swap a file or folder for a link between listing and opening): every step is O_NOFOLLOW."""
    parts = rel.split("/")
    fd = os.open(folder, _NOFOLLOW_DIR)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(leaf).st_mode):
        os.close(leaf)
        raise OSError(f"{rel!r} is not a regular file")
    return os.fdopen(leaf, "rb")


def restore_checkpoints(src_dir: Path, checkpoints_dir: Path) -> int:
    """Copy a previous run's checkpoints into the new tree before start; the number of files."""
    if not src_dir.is_dir():
        return 0
    count = 0
    for path in sorted(src_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        target = checkpoints_dir / path.relative_to(src_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        count += 1
    return count


def pack(folder: Path, archive: Path) -> Path:
    """Pack the content of `folder` (names relative to it) into a gzip tar, links kept as links."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        if folder.is_dir() and not folder.is_symlink():
            for path in sorted(folder.rglob("*")):
                # recursive=False: rglob already walks; never descend into a linked folder.
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    os.replace(tmp, archive)
    return archive


class PeriodicSync:
    """Calls `sync(checkpoints_dir)` in a thread every `interval_s`, soon after the program closes
    a file it wrote there (inotify), and once more at `finish()`.

    Errors from the hook are reported through `on_error` and never end the run.
    """

    def __init__(
        self,
        sync: CheckpointSync | None,
        checkpoints_dir: Path,
        interval_s: float,
        on_error: Callable[[str], None],
    ) -> None:
        self._sync = sync
        self._dir = checkpoints_dir
        self._interval = interval_s
        self._on_error = on_error
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="checkpoint-sync", daemon=True)

    def start(self) -> None:
        if self._sync is not None:
            self._watcher = CloseWatcher(self._dir)
            self._thread.start()

    def _loop(self) -> None:
        watcher = self._watcher
        try:
            due = time.monotonic() + self._interval
            while not self._done.is_set():
                saved = watcher.wait(min(_TICK_S, max(0.0, due - time.monotonic())))
                if saved:  # let a burst of saves settle into one sync
                    watcher.wait(_SETTLE_S)
                if self._done.is_set():
                    break
                if saved or time.monotonic() >= due:
                    self._call()
                    due = time.monotonic() + self._interval
        finally:
            watcher.close()

    def _call(self) -> None:
        if self._sync is None:
            return
        # One call at a time: the final sync must not overlap a periodic one still uploading.
        with self._lock:
            try:
                self._sync(self._dir)
            except Exception as exc:  # a failed upload must not kill the job
                self._on_error(f"checkpoint sync failed: {exc!r}")

    def finish(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self._call()


def remove_tree(path: Path) -> None:
    """Delete a host tree after the runner has uploaded what it needs. A volume still mounted in
    it (its host process was killed: a lost Ray node) is released first; what still cannot go is
    left for the runner's start-up sweep rather than failing the attempt's end."""
    try:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)
    except OSError:
        release_stale(path)
        with contextlib.suppress(OSError):
            shutil.rmtree(path)
