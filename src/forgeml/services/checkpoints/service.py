"""Tenant checkpoint locations: create, list, show, browse, download (file or archive), delete,
and the lookup job submission uses. Their files count against the tenant's storage quota.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from sqlalchemy.engine import Connection

from forgeml.db import checkpoints as q
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.scope import Scope
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.checkpoints import (
    MAX_DESCRIPTION,
    CheckpointFile,
    CheckpointLocation,
    check_location_name,
    file_path_problem,
)
from forgeml.domain.errors import Conflict, InvalidInput, NotFound
from forgeml.domain.ids import looks_like_id, new_id
from forgeml.domain.jobs import QUEUED_OR_RUNNING
from forgeml.services.identity.audit import Actor, record
from forgeml.storage.base import ObjectStore

_CHUNK = 1024 * 1024
_SPOOL = 16 * 1024 * 1024  # archives up to this size stay in memory


class CheckpointService:
    def __init__(self, db: Database, store: ObjectStore) -> None:
        self.db = db
        self.store = store

    def _tenant(self, actor: Actor) -> str:
        if actor.p.tenant_id is None:
            raise InvalidInput.fields([{"loc": "tenant", "msg": "locations belong to a tenant"}])
        return actor.p.tenant_id

    def load(
        self, actor: Actor, location_id: str, perm: Perm = Perm.DATA_READ
    ) -> CheckpointLocation:
        """Through the caller's scope first (404 for foreign ids), then the role (403)."""
        with self.db.read() as conn:
            loc = q.get_location(conn, Scope.of(actor.p), location_id)
        require(actor.p, perm)
        return loc

    def create(self, actor: Actor, name: str, description: str = "") -> CheckpointLocation:
        require(actor.p, Perm.DATA_WRITE)
        tenant_id = self._tenant(actor)
        check_location_name(name)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput.fields([{"loc": "description", "msg": "too long"}])
        now = utcnow()
        values: dict[str, object] = {"id": new_id("ckpt"), "tenant_id": tenant_id, "name": name}
        values |= {"description": description, "created_at": now, "updated_at": now}
        with self.db.write() as conn:
            loc = q.insert_location(conn, values)
            record(
                conn,
                actor,
                "checkpoint_location.create",
                "checkpoint_location",
                loc.id,
                tenant_id=tenant_id,
                details={"name": name},
            )
        return loc

    def list(self, actor: Actor, *, cursor: str | None, limit: int) -> Page[CheckpointLocation]:
        require(actor.p, Perm.DATA_READ)
        with self.db.read() as conn:
            return q.list_locations(conn, Scope.of(actor.p), cursor=cursor, limit=limit)

    def files(
        self, actor: Actor, location_id: str, *, prefix: str, cursor: str | None, limit: int
    ) -> Page[CheckpointFile]:
        loc = self.load(actor, location_id)
        with self.db.read() as conn:
            return q.list_files(conn, loc.id, prefix=prefix, cursor=cursor, limit=limit)

    def open_file(
        self, actor: Actor, location_id: str, path: str
    ) -> tuple[CheckpointFile, Iterator[bytes]]:
        """The file's row and its bytes (the object is opened when the first chunk is read)."""
        loc = self.load(actor, location_id)
        if problem := file_path_problem(path):
            raise NotFound(f"no checkpoint file {path[:200]!r}", details={"reason": problem})
        with self.db.read() as conn:
            f = q.get_file(conn, loc.id, path)

        def chunks() -> Iterator[bytes]:
            with self.store.open(f.object_key) as it:
                yield from it

        return f, chunks()

    def archive(self, actor: Actor, location_id: str) -> tuple[CheckpointLocation, IO[bytes]]:
        """A gzip tar of every file (names are the stored relative paths), rewound to 0."""
        loc = self.load(actor, location_id)
        with self.db.read() as conn:
            files = q.list_files(conn, loc.id).items
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - caller closes
        with tarfile.open(fileobj=spool, mode="w:gz") as tar:
            for f in files:
                info = tarfile.TarInfo(f.path)
                info.size, info.mode, info.mtime = f.size, 0o644, int(f.updated_at.timestamp())
                with self.store.open(f.object_key) as chunks:
                    tar.addfile(info, _ChunkReader(chunks))
        spool.seek(0)
        return loc, spool

    def delete(self, actor: Actor, location_id: str) -> None:
        loc = self.load(actor, location_id, Perm.DATA_WRITE)
        with self.db.write() as conn:
            if self._in_use(conn, loc):
                raise Conflict(
                    "a queued or running job uses this checkpoint location", code="in_use"
                )
            keys = q.delete_location(conn, Scope.of(actor.p), loc.id)
            record(
                conn,
                actor,
                "checkpoint_location.delete",
                "checkpoint_location",
                loc.id,
                tenant_id=loc.tenant_id,
                details={"name": loc.name, "files": len(keys)},
            )
        for key in keys:
            self.store.delete(key)

    def _in_use(self, conn: Connection, loc: CheckpointLocation) -> bool:
        statuses = [s.value for s in QUEUED_OR_RUNNING]
        return q.used_by_active_job(conn, loc.tenant_id, loc.id, statuses)

    # -- job submission ----------------------------------------------------------------------

    def resolve(self, conn: Connection, tenant_id: str, ref: str) -> CheckpointLocation:
        """A location of `tenant_id` by id (`ckpt_…`) or by name; anything else is NotFound."""
        if looks_like_id(ref):
            return q.get_location(conn, Scope(tenant_id), ref)
        return q.find_by_name(conn, tenant_id, ref)


class _ChunkReader:
    """A file-like `read(n)` over an iterator of byte chunks (what tarfile.addfile wants)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        out, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
        return out


ResolveLocation = Callable[[Connection, str, str], CheckpointLocation]
__all__ = ["CheckpointService", "ResolveLocation"]
