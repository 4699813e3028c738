"""Fresh, empty object stores of each backend, for tests parametrized over backends.

`open_backend(request, tmp_path, name)` gives memfs, localfs (in a temporary directory) or
s3 (a fresh bucket on moto's server, reached over HTTP through aiobotocore).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.store import MemoryStore, ObjectStore
from common.store.localfs import LocalFSStore
from common.store.s3 import S3Store
from tests.support.moto import MotoServer


def open_backend(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> ObjectStore:
    """A new store of backend `name`; use it with `async with` so it is closed."""
    if name == "memfs":
        return MemoryStore()
    if name == "localfs":
        return LocalFSStore(tmp_path / "data")
    server: MotoServer = request.getfixturevalue("moto_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3Store(bucket, prefix="sq", endpoint_url=server.endpoint_url)
