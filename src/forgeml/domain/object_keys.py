"""Every object key the platform builds, in one place: tenants' bytes live under
`tenants/<tenant-id>/`, the owner's under `platform/` (DESIGN.md "Data"). Keys are built from
ids only, never from names a tenant chose; `storage/keys.py` checks each before a store sees it.
"""

from __future__ import annotations


def _owner(tenant_id: str | None) -> str:
    return f"tenants/{tenant_id}" if tenant_id else "platform"


# --- datasets (platform datasets have no tenant) ---------------------------------------------


def dataset_prefix(tenant_id: str | None, dataset_id: str) -> str:
    return f"{_owner(tenant_id)}/datasets/{dataset_id}/"


def version_prefix(tenant_id: str | None, dataset_id: str, number: int) -> str:
    return f"{dataset_prefix(tenant_id, dataset_id)}v{number}/"


def file_key(tenant_id: str | None, dataset_id: str, number: int, file_id: str) -> str:
    return f"{version_prefix(tenant_id, dataset_id, number)}files/{file_id}"


def manifest_key(tenant_id: str | None, dataset_id: str, number: int) -> str:
    return f"{version_prefix(tenant_id, dataset_id, number)}manifest.json"


# --- algorithms (the owner's) ------------------------------------------------------------------


def bundle_key(algorithm_id: str, digest: str) -> str:
    """`platform/algorithms/<algorithm-id>/<digest-hex>.tar.gz`."""
    return f"platform/algorithms/{algorithm_id}/{digest.removeprefix('sha256:')}.tar.gz"


def build_log_key(algorithm_id: str, digest: str) -> str:
    return f"platform/algorithms/{algorithm_id}/{digest.removeprefix('sha256:')}.build.log"


# --- training jobs and checkpoint locations (a tenant's) ----------------------------------------


def job_prefix(tenant_id: str, job_id: str) -> str:
    return f"tenants/{tenant_id}/jobs/{job_id}/"


def location_prefix(tenant_id: str, location_id: str) -> str:
    return f"tenants/{tenant_id}/checkpoints/{location_id}/"


def location_file_key(tenant_id: str, location_id: str, file_id: str) -> str:
    return f"{location_prefix(tenant_id, location_id)}files/{file_id}"
