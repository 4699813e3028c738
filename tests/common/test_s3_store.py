"""S3 beyond the shared contract: prefixes, error translation, the client's lifetime.

All against moto's server over real HTTP through aiobotocore.
"""

from __future__ import annotations

import socket

import boto3
import pytest
from botocore.exceptions import ClientError

from common.settings import StorageSettings
from common.store import NotFound, PreconditionFailed, StoreError, StoreUnavailable, open_store
from common.store.s3 import S3Store
from tests.support.moto import REGION, MotoServer


def bucket_keys(server: MotoServer, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION)
    try:
        return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    finally:
        client.close()


async def test_keys_live_under_the_prefix_and_list_returns_them_without_it(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    async with (
        S3Store(s3_bucket, prefix="/team-a/", endpoint_url=moto_server.endpoint_url) as a,
        S3Store(s3_bucket, prefix="team-b", endpoint_url=moto_server.endpoint_url) as b,
    ):
        await a.put_if("topics/x.json", b"a", None)
        await b.put_if("topics/x.json", b"b", None)
        assert await a.list("topics/") == ["topics/x.json"]
        assert (await a.get("topics/x.json")).data == b"a"
        assert (await b.get("topics/x.json")).data == b"b"
        assert a.description == f"s3://{s3_bucket}/team-a"
    assert sorted(bucket_keys(moto_server, s3_bucket)) == [
        "team-a/topics/x.json",
        "team-b/topics/x.json",
    ]


async def test_without_a_prefix_keys_are_at_the_bucket_root(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    async with S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url) as store:
        await store.put_if("broker.json", b"{}", None)
        assert store.description == f"s3://{s3_bucket}"
    assert bucket_keys(moto_server, s3_bucket) == ["broker.json"]


async def test_etag_matches_what_s3_reports(moto_server: MotoServer, s3_bucket: str) -> None:
    async with S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url) as store:
        etag = await store.put_if("k.json", b"1", None)
    client = boto3.client("s3", endpoint_url=moto_server.endpoint_url, region_name=REGION)
    try:
        assert client.head_object(Bucket=s3_bucket, Key="k.json")["ETag"] == etag
    finally:
        client.close()


async def test_a_missing_bucket_is_store_unavailable_naming_the_error(
    moto_server: MotoServer,
) -> None:
    async with S3Store("sq-no-such-bucket", endpoint_url=moto_server.endpoint_url) as store:
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            await store.put_if("k.json", b"1", None)
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            await store.list()


async def test_an_unreachable_endpoint_is_store_unavailable(moto_server: MotoServer) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with S3Store("bucket", endpoint_url=f"http://127.0.0.1:{port}") as store:
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
            await store.get("k.json")


async def test_close_is_idempotent_and_a_closed_store_reconnects(
    moto_server: MotoServer, s3_bucket: str
) -> None:
    store = S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url)
    await store.put_if("k.json", b"1", None)
    await store.close()
    await store.close()
    assert (await store.get("k.json")).data == b"1"
    await store.close()
    with pytest.raises(NotFound):
        await S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url).get("nothing")


def test_open_store_builds_s3_from_the_settings() -> None:
    settings = StorageSettings(
        backend="s3", bucket="b", prefix="p", s3_endpoint="http://127.0.0.1:9000", region="eu-x"
    )
    store = open_store(settings)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.endpoint_url, store.region) == (
        "b",
        "p/",
        "http://127.0.0.1:9000",
        "eu-x",
    )
    assert store.description == settings.location()


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("code", "status", "conditional", "expected"),
    [
        # What S3 answers when a conditional request loses a race (moto produces only 412).
        ("PreconditionFailed", 412, True, PreconditionFailed),
        ("ConditionalRequestConflict", 409, True, PreconditionFailed),
        ("NoSuchKey", 404, True, PreconditionFailed),
        ("", 412, True, PreconditionFailed),  # an error without a body (HEAD-style)
        ("NoSuchKey", 404, False, NotFound),
        ("AccessDenied", 403, True, StoreUnavailable),
        ("InternalError", 500, False, StoreUnavailable),
    ],
)
async def test_s3_errors_become_the_named_store_errors(
    code: str, status: int, conditional: bool, expected: type[StoreError]
) -> None:
    store = S3Store("bucket")
    with pytest.raises(expected) as caught:
        async with store._errors("k.json", etag='"abc"', conditional=conditional):
            raise client_error(code, status)
    assert caught.value.key == "k.json"
