"""Object stores: one async interface, three backends (memfs, localfs, s3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    NotFound,
    Object,
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    etag_of,
)
from .memory import MemoryStore

if TYPE_CHECKING:
    from common.settings import StorageSettings

__all__ = [
    "MemoryStore",
    "NotFound",
    "Object",
    "ObjectStore",
    "PreconditionFailed",
    "StoreError",
    "StoreUnavailable",
    "etag_of",
    "open_store",
]


def open_store(settings: StorageSettings) -> ObjectStore:
    """The store the settings describe. Backends are imported lazily so that aiobotocore
    is loaded only by programs that use S3."""
    if settings.backend == "memfs":
        return MemoryStore()
    if settings.backend == "localfs":
        from .localfs import LocalFSStore

        return LocalFSStore(settings.dir)
    from .s3 import S3Store

    assert settings.bucket is not None  # enforced by StorageSettings
    return S3Store(
        bucket=settings.bucket,
        prefix=settings.prefix,
        endpoint_url=settings.s3_endpoint,
        region=settings.region,
    )
