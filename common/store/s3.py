"""S3 store (`--backend s3`) over aiobotocore, for AWS S3 and compatible services.

Compare-and-set uses S3 conditional writes: `IfNoneMatch="*"` creates only when the key is
absent, `IfMatch=<etag>` replaces only the version that was read; deletes with an ETag
use `IfMatch` as well. S3 reports a lost race as 412 PreconditionFailed, as 409
ConditionalRequestConflict (a concurrent write was in flight) or as 404 NoSuchKey (the
object was deleted); all three become `PreconditionFailed` here and nowhere deeper.

ETags are passed through exactly as S3 returns them (quoted MD5 hex for simple uploads).

Throttling and 5xx answers are retried (botocore "standard" mode, 3 attempts). A write
whose answer was lost may have landed: its retry then fails with PreconditionFailed even
though the object holds our bytes. Callers that re-apply their change on a conflict should
recognise their own write in the fresh object (topic documents carry writer and generation).

Credentials come from the standard AWS chain (environment, profile, instance role);
`endpoint_url` points the store at MinIO, R2, moto or another S3-compatible service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from .base import NotFound, Object, ObjectStore, PreconditionFailed, StoreUnavailable

#: Error codes (and HTTP statuses) that mean "the object is not the version you named".
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_NOT_MODIFIED_CODES = frozenset({"304", "NotModified"})

# Standard retries cover throttling and 5xx; the timeouts keep a dead endpoint from
# holding a group commit for minutes.
_CONFIG = AioConfig(
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 3},
)


class S3Store(ObjectStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        # "a", "a/" and "/a/" all mean the folder "a/".
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.description = f"s3://{bucket}" + (f"/{self.prefix.rstrip('/')}" if self.prefix else "")
        self._client: Any = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._client_lock = asyncio.Lock()

    # -- the contract -----------------------------------------------------------------

    async def get(self, key: str) -> Object:
        found = await self._get(key, None)
        assert found is not None  # only a conditional get can be "not modified"
        return found

    async def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        async with self._errors(key, etag=etag, conditional=True):
            client = await self._connect()
            response = await client.put_object(
                Bucket=self.bucket, Key=self.prefix + key, Body=bytes(data), **condition
            )
        return str(response["ETag"])

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        return await self._get(key, etag)

    async def delete(self, key: str, etag: str | None = None) -> None:
        condition = {} if etag is None else {"IfMatch": etag}
        async with self._errors(key, etag=etag, conditional=etag is not None):
            client = await self._connect()
            await client.delete_object(Bucket=self.bucket, Key=self.prefix + key, **condition)

    async def _keys(self, prefix: str, **options: str) -> list[str]:
        async with self._errors(prefix):
            client = await self._connect()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix, **options
            )
            keys = [
                str(item["Key"]).removeprefix(self.prefix)
                async for page in pages
                for item in page.get("Contents", ())
            ]
        return sorted(keys)

    async def list_level(self, prefix: str = "") -> list[str]:
        return await self._keys(prefix, Delimiter="/")  # the level below: CommonPrefixes

    async def list(self, prefix: str = "") -> list[str]:
        return await self._keys(prefix)

    async def close(self) -> None:
        async with self._client_lock:
            stack, self._exit_stack, self._client = self._exit_stack, None, None
            if stack is not None:
                await stack.aclose()

    # -- internals --------------------------------------------------------------------

    async def _connect(self) -> Any:
        """The store's one client, created on first use (close() releases it)."""
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        region_name=self.region,
                        config=_CONFIG,
                    )
                )
                self._exit_stack = stack
        return self._client

    async def _get(self, key: str, etag: str | None) -> Object | None:
        condition = {} if etag is None else {"IfNoneMatch": etag}
        async with self._errors(key):
            client = await self._connect()
            try:
                response = await client.get_object(
                    Bucket=self.bucket, Key=self.prefix + key, **condition
                )
            except ClientError as exc:
                if _code(exc) in _NOT_MODIFIED_CODES:
                    return None
                raise
            async with response["Body"] as body:
                data = await body.read()
        return Object(bytes(data), str(response["ETag"]))

    @contextlib.asynccontextmanager
    async def _errors(
        self, key: str, *, etag: str | None = None, conditional: bool = False
    ) -> AsyncIterator[None]:
        """Translate botocore's errors into the store's named errors."""
        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if conditional and (code in _CONFLICT_CODES or code in _MISSING_CODES):
                raise PreconditionFailed(key, etag) from exc
            if code in _MISSING_CODES:
                raise NotFound(key) from exc
            message = exc.response.get("Error", {}).get("Message") or code
            raise StoreUnavailable(
                key, f"{key}: {self.description}: S3 error {code}: {message}"
            ) from exc
        except (BotoCoreError, OSError) as exc:
            raise StoreUnavailable(key, f"{key}: {self.description}: {exc}") from exc


def _code(exc: ClientError) -> str:
    """The S3 error code, or the HTTP status as a string when the body carried none."""
    code = exc.response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
