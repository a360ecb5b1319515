"""The node side of checkpoint sync on a real filesystem: inotify close events, the periodic
syncer reacting to them, and file walking that never follows a link the program planted."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from forgeml.training.artifacts import PeriodicSync, open_inside, walk_files
from forgeml.training.fswatch import CloseWatcher
from tests.support.services import service_missing


def test_close_watcher_sees_saves_in_new_folders_but_not_behind_links(tmp_path: Path) -> None:
    root, outside = tmp_path / "ck", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "via-link").symlink_to(outside, target_is_directory=True)
    w = CloseWatcher(root)
    if not w.active:
        service_missing("inotify is not available here")
    try:
        assert w.wait(0.05) is False
        (outside / "x.bin").write_bytes(b"1")  # reached only through the link: not watched
        assert w.wait(0.2) is False
        (root / "sub" / "deeper").mkdir(parents=True)
        assert w.wait(0.2) is False  # a folder alone is no save
        (root / "sub" / "deeper" / "model.pt").write_bytes(b"w")
        assert w.wait(5.0) is True
        tmp = root / "state.json.tmp"
        tmp.write_bytes(b"{}")
        w.wait(1.0)
        os.replace(tmp, root / "state.json")
        assert w.wait(5.0) is True
    finally:
        w.close()


def test_walk_and_open_never_follow_links(tmp_path: Path) -> None:
    root, secret = tmp_path / "ck", tmp_path / "secret"
    (root / "d").mkdir(parents=True)
    secret.mkdir()
    (secret / "key").write_text("private")
    (root / "d" / "real.txt").write_text("ok")
    (root / "link.txt").symlink_to(secret / "key")
    (root / "linked").symlink_to(secret, target_is_directory=True)
    assert [rel for rel, _ in walk_files(root)] == ["d/real.txt"]
    assert open_inside(root, "d/real.txt").read() == b"ok"
    for rel in ("link.txt", "linked/key"):
        with pytest.raises(OSError):
            open_inside(root, rel)
    # a folder swapped for a link after the listing is refused too
    listed = [rel for rel, _ in walk_files(root)]
    (root / "d" / "real.txt").unlink()
    (root / "d").rmdir()
    (root / "d").symlink_to(secret, target_is_directory=True)
    (secret / "real.txt").write_text("swapped")
    with pytest.raises(OSError):
        open_inside(root, listed[0])
    os.mkfifo(root / "pipe")
    with pytest.raises(OSError):
        open_inside(root, "pipe")  # not a regular file (and never blocks)


def test_periodic_sync_runs_soon_after_a_save_and_once_at_finish(tmp_path: Path) -> None:
    root = tmp_path / "ck"
    root.mkdir()
    calls: list[list[str]] = []
    synced = threading.Event()

    def sync(folder: Path) -> None:
        calls.append([rel for rel, _ in walk_files(folder)])
        synced.set()

    syncer = PeriodicSync(sync, root, 3600.0, lambda m: calls.append([m]))
    syncer.start()
    try:
        if not syncer._watcher.active:
            service_missing("inotify is not available here")
        (root / "epoch-1.pt").write_bytes(b"w")
        assert synced.wait(10.0), "no sync after the file was closed"
    finally:
        syncer.finish()
    assert calls[0] == ["epoch-1.pt"] and calls[-1] == ["epoch-1.pt"]
