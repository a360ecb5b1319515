"""Algorithm environments: extract each version's code and build its virtualenv, once per digest.

Layout under `AlgorithmSettings.envs_dir` (default `<home>/envs`): `<hex>/` the venv (and its
`.log`/`.lock`/`.failed` files, see `training/environments.py`), `<hex>.code/` the bundle,
`.uv-cache/` the package cache every uv build of this node shares (`training/installer.py`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy.engine import Connection

from forgeml.config import AlgorithmSettings
from forgeml.db import algorithms as q
from forgeml.db.engine import Database
from forgeml.db.types import utcnow
from forgeml.domain.algorithms import MANIFEST_NAME, AlgorithmManifest
from forgeml.domain.authz import Perm, require
from forgeml.domain.errors import Conflict, InvalidInput, NotFound
from forgeml.domain.object_keys import build_log_key
from forgeml.domain.registry import AlgorithmVersion, VersionStatus
from forgeml.services.algorithms.build_recorder import BuildRecorder
from forgeml.services.identity.audit import Actor, record
from forgeml.storage.base import ObjectStore, read_bytes
from forgeml.training.build_jail import BuildIsolation
from forgeml.training.bundle import extract_bundle
from forgeml.training.environments import (
    EnvironmentBuildFailed,
    EnvironmentCache,
    EnvironmentStatus,
)

log = structlog.get_logger("forgeml.algorithms")
SYSTEM = Actor(principal=None, source_ip="worker")
_STALE_MARGIN_S = 300.0  # a claim older than the build timeout plus this is a dead worker's


@dataclass(frozen=True)
class ResolvedAlgorithm:
    """What a job needs to run a version on this node."""

    version_id: str
    algorithm_id: str
    manifest: AlgorithmManifest
    digest: str
    code_dir: Path
    python: Path
    status: VersionStatus  # the registry's view (built somewhere, failed, ...)
    env_status: EnvironmentStatus  # this node's cache


class AlgorithmEnvironments:
    def __init__(self, db: Database, store: ObjectStore, settings: AlgorithmSettings) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.root = settings.envs_dir
        builds = settings.builds
        isolation = BuildIsolation(
            sandbox=settings.sandbox,
            network=builds.network,
            pip_env=dict(builds.pip_env),
            read_paths=tuple(builds.read_paths),
        )
        self.cache = EnvironmentCache(self.root, isolation=isolation)
        self._manifests: dict[str, AlgorithmManifest] = {}

    def manifest(self, version: AlgorithmVersion) -> AlgorithmManifest:
        """The parsed manifest; versions are immutable, so parse each one once per process."""
        cached = self._manifests.get(version.id)
        if cached is None:
            cached = self._manifests[version.id] = version.parsed_manifest
        return cached

    def code_dir(self, digest: str) -> Path:
        return self.root / f"{digest.removeprefix('sha256:')}.code"

    # --- for the jobs feature ------------------------------------------------------------

    def resolve_for_job(
        self,
        actor: Actor,
        version_id: str | None = None,
        *,
        name: str | None = None,
        version: str | None = None,
    ) -> ResolvedAlgorithm:
        """The version a job asks for, by id, name+version or name (newest usable version);
        refuse unusable ones clearly."""
        require(actor.p, Perm.ALGORITHMS_READ)
        with self.db.read() as conn:
            if version_id is not None:
                found = q.get_version(conn, version_id)
            elif name is not None and version is not None:
                found = q.find_version(conn, name, version)
            elif name is not None:  # a bare name means its newest usable version
                found = q.latest_usable_version(conn, name)
            else:
                raise InvalidInput.fields(
                    [{"loc": "algorithm", "msg": "give an id or name+version"}]
                )
        if found.deprecated:
            raise Conflict(
                f"{found.name} {found.version} is deprecated and cannot be used for new jobs",
                code="algorithm_deprecated",
            )
        if found.status is VersionStatus.FAILED:
            details = {"reason": found.failure_reason} if actor.p.is_platform_admin else {}
            raise Conflict(
                f"the environment of {found.name} {found.version} failed to build; "
                "it cannot run until a platform admin rebuilds it",
                code="algorithm_unusable",
                details=details,
            )
        return self._resolved(found)

    def materialize(self, version: AlgorithmVersion) -> ResolvedAlgorithm:
        """Extract the code and build the env on this node if needed (blocking, idempotent).

        Raise `EnvironmentBuildFailed` with the log tail when the requirements do not install.
        """
        code = self._ensure_code(version)
        manifest = self.manifest(version)
        with BuildRecorder(self.db, version.id) as recorder:  # records only if this call builds
            self.cache.ensure(version.digest, code, manifest.requirements, observer=recorder)
        if version.status is not VersionStatus.READY:
            self._mark_ready(version)
        return self._resolved(version)

    def _resolved(self, v: AlgorithmVersion) -> ResolvedAlgorithm:
        env = self.cache.path(v.digest)
        return ResolvedAlgorithm(
            version_id=v.id,
            algorithm_id=v.algorithm_id,
            manifest=self.manifest(v),
            digest=v.digest,
            code_dir=self.code_dir(v.digest),
            python=env / "bin" / "python",
            status=v.status,
            env_status=self.cache.status(v.digest),
        )

    def _ensure_code(self, version: AlgorithmVersion) -> Path:
        dest = self.code_dir(version.digest)
        if (dest / MANIFEST_NAME).is_file():
            return dest
        local = self.store.local_path(version.bundle_key)
        with tempfile.TemporaryDirectory(prefix="forgeml-bundle-") as tmp:
            src = local
            if src is None:
                src = Path(tmp) / "bundle.tar.gz"
                with src.open("wb") as f, self.store.open(version.bundle_key) as chunks:
                    for chunk in chunks:
                        f.write(chunk)
            try:
                info = extract_bundle(src, dest, max_bytes=self.settings.max_bundle_bytes)
            except OSError:
                if (dest / MANIFEST_NAME).is_file():  # another extractor won the race
                    return dest
                raise
        if info.digest != version.digest:  # the store returned other bytes than registered
            shutil.rmtree(dest, ignore_errors=True)
            raise InvalidInput(f"stored bundle of {version.id} does not match its digest")
        return dest

    # --- the builder loop ----------------------------------------------------------------

    def recover_builds(self, holder_is_gone: Callable[[str], bool]) -> int:
        """Free the builds whose holder is gone (a server stopped mid-build): claimable at once."""
        released = 0
        with self.db.write() as conn:
            for version_id, holder in q.build_claims(conn):
                if holder_is_gone(holder) and q.release_build_claim(conn, version_id, holder):
                    log.info("released interrupted build", version_id=version_id, holder=holder)
                    released += 1
        return released

    def build_next(self, worker: str) -> bool:
        """Claim one version in status `building` and build it; False when there is none."""
        now = utcnow()
        stale = now - timedelta(seconds=self.cache.timeout_s + _STALE_MARGIN_S)
        with self.db.read() as conn:  # idle builders read; only a likely claim writes
            if not q.build_waiting(conn, stale):
                return False
        with self.db.write() as conn:
            version_id = q.claim_build(conn, worker, now, stale)
        if version_id is None:
            return False
        with self.db.read() as conn:
            version = q.get_version(conn, version_id)
        log.info("building algorithm environment", version_id=version_id, digest=version.digest)
        try:
            self.materialize(version)
        except (EnvironmentBuildFailed, InvalidInput) as exc:
            reason = exc.log_tail if isinstance(exc, EnvironmentBuildFailed) else exc.message
            self._mark_failed(version, reason)
        except BaseException:
            self._release(version_id)  # not the bundle's fault (store down...): try again later
            raise
        finally:
            self._keep_log(version)
        return True

    def _mark_ready(self, version: AlgorithmVersion) -> None:
        with self.db.write() as conn:
            changed = q.set_status(
                conn,
                version.id,
                [VersionStatus.BUILDING, VersionStatus.REGISTERED, VersionStatus.FAILED],
                {
                    "status": VersionStatus.READY.value,
                    "env_built_at": utcnow(),
                    "failure_reason": None,
                    "build_claimed_by": None,
                    "build_claimed_at": None,
                },
            )
            if changed:
                self._audit(conn, version, "success")

    def _mark_failed(self, version: AlgorithmVersion, reason: str) -> None:
        with self.db.write() as conn:
            changed = q.set_status(
                conn,
                version.id,
                [VersionStatus.BUILDING, VersionStatus.REGISTERED],
                {
                    "status": VersionStatus.FAILED.value,
                    "failure_reason": reason,
                    "build_claimed_by": None,
                    "build_claimed_at": None,
                },
            )
            if changed:
                self._audit(conn, version, "failure")

    def _release(self, version_id: str) -> None:
        with self.db.write() as conn:
            q.set_status(
                conn,
                version_id,
                [VersionStatus.BUILDING],
                {"build_claimed_by": None, "build_claimed_at": None},
            )

    def _audit(self, conn: Connection, version: AlgorithmVersion, outcome: str) -> None:
        record(
            conn,
            SYSTEM,
            "algorithm.build",
            "algorithm_version",
            version.id,
            tenant_id=None,
            outcome=outcome,
            details={"digest": version.digest},
        )

    # --- build logs ----------------------------------------------------------------------

    def _keep_log(self, version: AlgorithmVersion) -> None:
        """Copy this node's log to the store, so every API replica can show it."""
        text = self.cache.log(version.digest)
        if text:
            key = build_log_key(version.algorithm_id, version.digest)
            self.store.put(key, text.encode(), content_type="text/plain; charset=utf-8")

    def log(self, version: AlgorithmVersion) -> str:
        """The build log: this node's live one if it has one, else the stored copy, else ""."""
        text = self.cache.log(version.digest)
        if text:
            return text
        try:
            return read_bytes(
                self.store, build_log_key(version.algorithm_id, version.digest)
            ).decode(errors="replace")
        except NotFound:
            return ""
