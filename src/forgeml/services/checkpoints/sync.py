"""Runner side of checkpoint locations: restore a location into a host before the program starts,
and sync what the program writes back into it (periodically, on close, and at the end).

Files are read without following links (`training.artifacts.open_inside`); every row change is
fenced by the attempt's lease and quota-checked in the same transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Connection

from forgeml.db import checkpoints as q
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.checkpoints import file_path_problem
from forgeml.domain.errors import NotFound
from forgeml.domain.ids import new_id
from forgeml.domain.object_keys import location_file_key
from forgeml.storage.base import ObjectStore
from forgeml.training.artifacts import CheckpointSync, open_inside, walk_files

#: `(conn, tenant_id, extra_bytes)`: raises QuotaExceeded (DatasetService.check_quota).
_PASSES = 3  # walks of one sync when files vanish under it
QuotaCheck = Callable[[Connection, str, int], None]
#: `(conn)`: raises LeaseLost once the attempt is no longer the job's (queue.transitions.fence).
Fence = Callable[[Connection], None]


def restore_location(db: Database, store: ObjectStore, location_id: str, dest: Path) -> int:
    """Download every file of the location under `dest`; the number of files."""
    with db.read() as conn:
        files = q.list_files(conn, location_id).items
    for f in files:
        if file_path_problem(f.path):
            continue  # never stored by us; refuse to write outside `dest` all the same
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        with tmp.open("wb") as out, store.open(f.object_key) as chunks:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, target)
    return len(files)


def location_sync(
    db: Database,
    store: ObjectStore,
    *,
    tenant_id: str,
    location_id: str,
    job_id: str,
    fence: Fence,
    check_quota: QuotaCheck,
) -> CheckpointSync:
    """A sync hook: upload new or changed files of the checkpoint folder into the location."""
    seen: dict[str, tuple[int, int]] = {}

    def upload(folder: Path, rel: str) -> bool:
        """Whether `rel` is now in the location (False: it vanished before that)."""
        try:
            f = open_inside(folder, rel)
        except OSError:  # gone, or swapped for a link since the listing
            return False
        with f:
            size = os.fstat(f.fileno()).st_size
            with db.read() as conn:
                old = _size_of(conn, location_id, rel)
                check_quota(conn, tenant_id, max(0, size - old))
            key = location_file_key(tenant_id, location_id, new_id("ckf"))
            info = store.put(key, f, size=size)
        if not os.path.lexists(folder / rel):
            # Renamed or deleted while it was uploading (a program's `x.tmp` -> `x`): a file
            # the folder no longer has must not appear in the location.
            store.delete(key)
            return False
        now = utcnow()
        row: dict[str, object] = {"id": key.rsplit("/", 1)[1], "location_id": location_id}
        row |= {"tenant_id": tenant_id, "path": rel, "size": info.size, "object_key": key}
        row["updated_at"] = now
        try:
            with db.write() as conn:
                fence(conn)
                replaced = q.put_file(conn, row)
                check_quota(conn, tenant_id, 0)  # now counting this file: over → roll back
                q.touch_location(conn, location_id, job_id, now)
        except BaseException:
            store.delete(key)
            raise
        if replaced is not None:
            store.delete(replaced)
        return True

    def sync(folder: Path) -> None:
        # A file that vanished mid-pass was usually renamed (`x.tmp` -> `x`): walk again so the
        # new name is synced now, not at the next save (a few passes at most).
        for _ in range(_PASSES):
            vanished = False
            for rel, st in list(walk_files(folder)):
                stamp = (st.st_size, st.st_mtime_ns)
                if seen.get(rel) == stamp or file_path_problem(rel):
                    continue
                if upload(folder, rel):
                    seen[rel] = stamp
                else:
                    vanished = True
            if not vanished:
                return

    return sync


def _size_of(conn: Connection, location_id: str, rel: str) -> int:
    try:
        return q.get_file(conn, location_id, rel).size
    except NotFound:  # a new file
        return 0
