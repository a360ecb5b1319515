"""ForgeML object storage: the `ObjectStore` protocol and its backends, chosen by URL scheme.

`open_store(settings.storage_url, settings.s3)` is how the composition root builds one.
"""

from forgeml.storage.base import (
    CHUNK_SIZE,
    MIN_PART_SIZE,
    ObjectInfo,
    ObjectStore,
    PartInfo,
    UploadInfo,
    read_bytes,
)
from forgeml.storage.keys import check_key, check_prefix, join_key
from forgeml.storage.registry import known_schemes, open_store, register_backend

__all__ = [
    "CHUNK_SIZE",
    "MIN_PART_SIZE",
    "ObjectInfo",
    "ObjectStore",
    "PartInfo",
    "UploadInfo",
    "check_key",
    "check_prefix",
    "join_key",
    "known_schemes",
    "open_store",
    "read_bytes",
    "register_backend",
]
