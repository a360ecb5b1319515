"""What the data lake's sibling services (uploads, parts, downloads, previews) need of the
dataset service: visibility checks, quotas, limits and the shared handles. A Protocol, so they
depend on this small surface and `DatasetService`, which composes them, depends on them.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.engine import Connection

from forgeml.config import S3Settings
from forgeml.db.engine import Database
from forgeml.domain.datasets import Dataset
from forgeml.domain.errors import QuotaExceeded
from forgeml.services.datasets.archives import ArchiveLimits
from forgeml.services.datasets.grants import GrantService
from forgeml.services.identity.audit import Actor, record
from forgeml.storage.base import ObjectStore


class DatasetAccess(Protocol):
    db: Database
    store: ObjectStore
    s3: S3Settings
    archive_limits: ArchiveLimits
    grants: GrantService

    def load_for_read(self, actor: Actor, dataset_id: str) -> Dataset:
        """The dataset if the caller may read it (else NotFound/Forbidden)."""
        ...

    def load_for_write(self, actor: Actor, dataset_id: str) -> Dataset:
        """The dataset if the caller may change it."""
        ...

    def check_quota(self, conn: Connection, tenant_id: str | None, extra: int) -> None:
        """Raise QuotaExceeded when the tenant's usage plus `extra` bytes is over its quota."""
        ...

    def quota_refused(self, actor: Actor, tenant_id: str | None, exc: QuotaExceeded) -> None:
        """Record a quota refusal (event + audit) in its own transaction."""
        ...


def record_version(
    conn: Connection,
    actor: Actor,
    action: str,
    ds: Dataset,
    version_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit an action on one version: the version is the target, its dataset's tenant the owner."""
    target: dict[str, Any] = {"target_type": "dataset_version", "target_id": version_id}
    record(conn, actor, action, tenant_id=ds.tenant_id, details=details, **target)
