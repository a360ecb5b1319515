"""Linux inotify for one folder tree: tells the checkpoint syncer that a file was closed after
writing (or renamed into place), so checkpoints are uploaded as soon as the program saves them.

Without inotify (another OS, no watches left) `wait` only sleeps; the periodic sync still runs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
from pathlib import Path

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_ONLYDIR = 0x01000000
IN_DONTFOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_MASK = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DONTFOLLOW
_HEADER = struct.Struct("iIII")
_MAX_WATCHES = 4096  # per tree; a program making more folders falls back to the periodic sync


class CloseWatcher:
    """Watches `root` and every folder created under it (links are never followed)."""

    def __init__(self, root: Path) -> None:
        self.fd = -1
        self.dirs: dict[int, Path] = {}
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._add = libc.inotify_add_watch
            self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd < 0:
            return
        self.fd = fd
        self._watch_tree(root)

    @property
    def active(self) -> bool:
        return self.fd >= 0

    def _watch(self, folder: Path) -> bool:
        if len(self.dirs) >= _MAX_WATCHES:
            return False
        wd = self._add(self.fd, os.fsencode(folder), _MASK)
        if wd < 0:
            return False
        self.dirs[wd] = folder
        return True

    def _watch_tree(self, root: Path) -> None:
        if not self._watch(root):
            return
        for top, dirs, _ in os.walk(root, followlinks=False):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
            for d in dirs:
                self._watch(Path(top, d))

    def wait(self, timeout_s: float) -> bool:
        """Block up to `timeout_s`; True when a file was written and closed or moved in."""
        if not self.active:
            select.select([], [], [], max(0.0, timeout_s))
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout_s))
        if not ready:
            return False
        return self._drain()

    def _drain(self) -> bool:
        saved = False
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return saved
                raise
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                name = data[offset + _HEADER.size : offset + _HEADER.size + length].rstrip(b"\0")
                offset += _HEADER.size + length
                if mask & IN_Q_OVERFLOW:
                    saved = True
                elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and wd in self.dirs:
                    self._watch_tree(self.dirs[wd] / os.fsdecode(name))
                elif mask & (IN_CLOSE_WRITE | IN_MOVED_TO):
                    saved = True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
