"""The algorithm registry: register bundles (platform admins), deprecate, list; tenant cards.

Algorithms are platform-owned. Admin operations answer 404 to everyone else (the admin surface
does not exist for tenants); tenants see only published versions' cards, never bundles or code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO

import sqlalchemy as sa

from forgeml.config import AlgorithmSettings
from forgeml.db import algorithms as q
from forgeml.db import build_logs, events
from forgeml.db.engine import Database
from forgeml.db.pagination import Page
from forgeml.db.types import utcnow
from forgeml.domain.authz import Perm, require
from forgeml.domain.build_progress import BuildLogPage
from forgeml.domain.errors import Conflict, InvalidInput, NotFound
from forgeml.domain.hyperparameters import validate_hyperparameters
from forgeml.domain.ids import new_id
from forgeml.domain.object_keys import bundle_key
from forgeml.domain.registry import (
    AlgorithmVersion,
    AlgorithmWithVersions,
    VersionStatus,
    resource_class_problems,
    tenant_card,
)
from forgeml.services.algorithms.envs import AlgorithmEnvironments
from forgeml.services.identity.audit import Actor, record
from forgeml.storage.base import ObjectStore
from forgeml.training.bundle import DEFAULT_MAX_MEMBERS, BundleInfo, inspect_bundle

_ADMIN_ONLY = "not found"


def platform_only(actor: Actor) -> None:
    """Everything admin-side is invisible (404, not 403) to tenant principals."""
    if not actor.p.is_platform_admin:
        raise NotFound(_ADMIN_ONLY)


@dataclass(eq=False)
class AlgorithmService:
    """The registry: register and rebuild bundles, deprecate versions, the catalog views."""

    db: Database
    store: ObjectStore
    settings: AlgorithmSettings
    envs: AlgorithmEnvironments

    # --- registration --------------------------------------------------------------------

    def register(self, actor: Actor, bundle: BinaryIO, *, build: bool) -> AlgorithmVersion:
        """Validate a bundle (streamed, never extracted), store it, record the new version.

        Any problem leaves nothing behind: no object and no row.
        """
        platform_only(actor)
        require(actor.p, Perm.PLATFORM_MANAGE)
        info = inspect_bundle(
            bundle,
            max_bytes=self.settings.max_bundle_bytes,
            max_members=DEFAULT_MAX_MEMBERS,
        )
        problems = resource_class_problems(info.manifest.resource_classes)
        if problems:
            raise InvalidInput.fields(problems)
        stored: list[str] = []
        try:
            with self.db.write() as conn:
                version = self._insert(conn, actor, info, bundle, build, stored)
        except BaseException:
            self._forget_unreferenced(stored)
            raise
        return version

    def _insert(
        self,
        conn: sa.Connection,
        actor: Actor,
        info: BundleInfo,
        bundle: BinaryIO,
        build: bool,
        stored: list[str],
    ) -> AlgorithmVersion:
        m, now = info.manifest, utcnow()
        alg = q.get_or_create_algorithm(
            conn,
            {"id": new_id("alg"), "name": m.name, "description": m.description, "created_at": now},
        )
        q.ensure_new_version(conn, alg.id, m.name, m.version, info.digest)
        key = bundle_key(alg.id, info.digest)
        # Stored inside the transaction so a failed insert or commit never leaves a row without
        # its object; the object is removed again below when no row refers to it.
        bundle.seek(0)
        stored.append(key)
        self.store.put(key, bundle, content_type="application/gzip", size=info.size)
        status = VersionStatus.BUILDING if build else VersionStatus.REGISTERED
        try:
            version = q.insert_version(
                conn,
                {
                    "id": new_id("alv"),
                    "algorithm_id": alg.id,
                    "name": m.name,
                    "version": m.version,
                    "digest": info.digest,
                    "size_bytes": info.size,
                    "manifest": m.model_dump(mode="json"),
                    "card": tenant_card(m),
                    "status": status.value,
                    "failure_reason": None,
                    "deprecated": False,
                    "bundle_key": key,
                    "created_at": now,
                    "created_by": actor.p.user_id,
                    "env_built_at": None,
                },
            )
        except sa.exc.IntegrityError:  # a concurrent registration of the same version won
            raise Conflict(
                f"{m.name} {m.version} is already registered", code="already_exists"
            ) from None
        data = {"algorithm_id": alg.id, "version_id": version.id, "name": m.name}
        record(
            conn,
            actor,
            "algorithm.register",
            "algorithm_version",
            version.id,
            tenant_id=None,
            details={**data, "version": m.version, "digest": info.digest, "build": build},
        )
        events.emit(
            conn,
            "algorithm.registered",
            tenant_id=None,
            data={**data, "version": m.version},
            subject_type="algorithm_version",
            subject_id=version.id,
        )
        return version

    def _forget_unreferenced(self, keys: list[str]) -> None:
        for key in keys:
            with self.db.read() as conn:
                in_use = q.bundle_key_in_use(conn, key)
            if not in_use:  # a concurrent winner with the same digest keeps its object
                self.store.delete(key)

    # --- admin reads and changes ---------------------------------------------------------

    def list_admin(
        self, actor: Actor, *, name: str | None, cursor: str | None, limit: int
    ) -> Page[AlgorithmWithVersions]:
        platform_only(actor)
        return self._list(actor, False, name=name, cursor=cursor, limit=limit)

    def get_admin(self, actor: Actor, algorithm_id: str) -> AlgorithmWithVersions:
        platform_only(actor)
        return self._get(actor, algorithm_id, include_deprecated=True)

    def version_admin(self, actor: Actor, algorithm_id: str, version_id: str) -> AlgorithmVersion:
        platform_only(actor)
        require(actor.p, Perm.ALGORITHMS_READ)
        with self.db.read() as conn:
            return q.get_version(conn, version_id, algorithm_id=algorithm_id)

    def set_deprecated(
        self, actor: Actor, algorithm_id: str, version_id: str, deprecated: bool
    ) -> AlgorithmVersion:
        self.version_admin(actor, algorithm_id, version_id)
        require(actor.p, Perm.PLATFORM_MANAGE)
        with self.db.write() as conn:
            version = q.update_version(conn, version_id, {"deprecated": deprecated})
            record(
                conn,
                actor,
                "algorithm.deprecate" if deprecated else "algorithm.undeprecate",
                "algorithm_version",
                version_id,
                tenant_id=None,
            )
        return version

    def rebuild(self, actor: Actor, algorithm_id: str, version_id: str) -> AlgorithmVersion:
        """Queue a (re)build of a failed or never-built version's environment."""
        self.version_admin(actor, algorithm_id, version_id)
        require(actor.p, Perm.PLATFORM_MANAGE)
        with self.db.write() as conn:
            ok = q.set_status(
                conn,
                version_id,
                [VersionStatus.FAILED, VersionStatus.REGISTERED],
                {
                    "status": VersionStatus.BUILDING.value,
                    "failure_reason": None,
                    "build_claimed_by": None,
                    "build_claimed_at": None,
                },
            )
            version = q.get_version(conn, version_id)
            if not ok and version.status is VersionStatus.BUILDING:
                return version  # already queued (or being built): asking again changes nothing
            if not ok:
                raise Conflict(
                    f"the environment is {version.status.value}; only failed or unbuilt "
                    "versions can be (re)built",
                    details={"status": version.status.value},
                )
            record(
                conn, actor, "algorithm.rebuild", "algorithm_version", version_id, tenant_id=None
            )
        return version

    def build_log(self, actor: Actor, algorithm_id: str, version_id: str) -> str:
        version = self.version_admin(actor, algorithm_id, version_id)
        self._audit_read(actor, "algorithm.build_log", version_id)
        return self.envs.log(version)

    def build_log_page(
        self,
        actor: Actor,
        algorithm_id: str,
        version_id: str,
        *,
        after: int,
        limit: int,
        audit: bool = True,
    ) -> BuildLogPage:
        """The latest build's progress and kept lines after `after` (a follower audits once)."""
        version = self.version_admin(actor, algorithm_id, version_id)
        if audit:
            self._audit_read(actor, "algorithm.build_log", version_id)
        with self.db.read() as conn:
            progress = build_logs.progress(conn, version_id)
            lines = build_logs.lines(conn, version_id, after=after, limit=limit)
        # Nothing more will come: the build ended (and these are its last lines), or none is
        # queued. A version in `building` without a build row yet waits for its builder.
        idle = progress is None and version.status is not VersionStatus.BUILDING
        done = progress is not None and progress.phase.finished and len(lines) < limit
        return BuildLogPage(progress, lines, finished=idle or done)

    def open_bundle(
        self, actor: Actor, algorithm_id: str, version_id: str
    ) -> tuple[AlgorithmVersion, AbstractContextManager[Iterator[bytes]]]:
        """The bundle bytes (a data read: audited). Platform admins only."""
        version = self.version_admin(actor, algorithm_id, version_id)
        require(actor.p, Perm.PLATFORM_MANAGE)  # code is the owner's secret: not for read tokens
        self.store.head(version.bundle_key)  # NotFound now rather than mid-stream
        self._audit_read(actor, "algorithm.download", version_id)
        return version, self.store.open(version.bundle_key)

    def _audit_read(self, actor: Actor, action: str, version_id: str) -> None:
        with self.db.write() as conn:
            record(conn, actor, action, "algorithm_version", version_id, tenant_id=None)

    # --- tenant view (cards) -------------------------------------------------------------

    def cards(
        self, actor: Actor, *, include_deprecated: bool, cursor: str | None, limit: int
    ) -> Page[AlgorithmWithVersions]:
        return self._list(actor, include_deprecated, name=None, cursor=cursor, limit=limit)

    def card(
        self, actor: Actor, algorithm_id: str, *, include_deprecated: bool
    ) -> AlgorithmWithVersions:
        return self._get(actor, algorithm_id, include_deprecated=include_deprecated)

    def version_card(
        self, actor: Actor, algorithm_id: str, version_id: str, *, include_deprecated: bool
    ) -> AlgorithmVersion:
        require(actor.p, Perm.ALGORITHMS_READ)
        with self.db.read() as conn:
            return q.get_version(
                conn,
                version_id,
                algorithm_id=algorithm_id,
                tenant_view=not actor.p.is_platform_admin,
                include_deprecated=include_deprecated,
            )

    def validate_hyperparameters(
        self,
        actor: Actor,
        version_id: str,
        given: Mapping[str, object],
        *,
        algorithm_id: str | None = None,
    ) -> dict[str, str]:
        """Check job hyperparameters against a published version: the string map with defaults
        applied, or `InvalidInput` listing every problem (what job submission calls)."""
        require(actor.p, Perm.ALGORITHMS_READ)
        with self.db.read() as conn:
            version = q.get_version(
                conn,
                version_id,
                algorithm_id=algorithm_id,
                tenant_view=not actor.p.is_platform_admin,
            )
        return validate_hyperparameters(self.envs.manifest(version).hyperparameters, given)

    # --- shared --------------------------------------------------------------------------

    def _list(
        self,
        actor: Actor,
        include_deprecated: bool,
        *,
        name: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[AlgorithmWithVersions]:
        require(actor.p, Perm.ALGORITHMS_READ)
        tenant_view = not actor.p.is_platform_admin
        with self.db.read() as conn:
            page = q.list_algorithms(
                conn,
                tenant_view=tenant_view,
                include_deprecated=include_deprecated,
                name=name,
                cursor=cursor,
                limit=limit,
            )
            versions = q.versions_of(
                conn,
                [a.id for a in page.items],
                tenant_view=tenant_view,
                include_deprecated=include_deprecated,
            )
        items = [AlgorithmWithVersions(a, tuple(versions[a.id])) for a in page.items]
        return Page(items=items, next_cursor=page.next_cursor)

    def _get(
        self, actor: Actor, algorithm_id: str, *, include_deprecated: bool
    ) -> AlgorithmWithVersions:
        require(actor.p, Perm.ALGORITHMS_READ)
        tenant_view = not actor.p.is_platform_admin
        opts: dict[str, Any] = {
            "tenant_view": tenant_view,
            "include_deprecated": include_deprecated,
        }
        with self.db.read() as conn:
            alg = q.get_algorithm(conn, algorithm_id, **opts)
            versions = q.versions_of(conn, [alg.id], **opts)[alg.id]
        return AlgorithmWithVersions(alg, tuple(versions))
