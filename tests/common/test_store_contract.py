"""The object-store contract (broker/DESIGN.md), run against every backend.

s3 runs against moto's server over real HTTP through aiobotocore; localfs against a
temporary directory. Races between concurrent writers are tested per backend where the
backend itself provides the atomicity (moto checks S3 conditions without a lock, so a race
test against it would test moto, not this code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.store import NotFound, Object, ObjectStore, PreconditionFailed
from tests.support.stores import open_backend


@pytest.fixture(params=["memfs", "localfs", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    async with open_backend(request, tmp_path, request.param) as backend:
        yield backend


async def test_get_returns_what_put_if_wrote_with_its_etag(store: ObjectStore) -> None:
    etag = await store.put_if("topics/a.json", b'{"n": 1}', None)
    found = await store.get("topics/a.json")
    assert found.data == b'{"n": 1}'
    assert found.etag == etag


async def test_get_raises_not_found_for_a_missing_key(store: ObjectStore) -> None:
    with pytest.raises(NotFound) as caught:
        await store.get("topics/missing.json")
    assert caught.value.key == "topics/missing.json"


async def test_create_only_fails_when_key_exists(store: ObjectStore) -> None:
    await store.put_if("broker.json", b"first", None)
    with pytest.raises(PreconditionFailed):
        await store.put_if("broker.json", b"second", None)
    assert (await store.get("broker.json")).data == b"first"


async def test_put_if_replaces_the_version_it_names(store: ObjectStore) -> None:
    first = await store.put_if("k.json", b"1", None)
    second = await store.put_if("k.json", b"2", first)
    assert second != first
    assert await store.get("k.json") == Object(b"2", second)


async def test_put_if_fails_when_etag_is_stale(store: ObjectStore) -> None:
    stale = await store.put_if("k.json", b"1", None)
    await store.put_if("k.json", b"2", stale)
    with pytest.raises(PreconditionFailed) as caught:
        await store.put_if("k.json", b"3", stale)
    assert caught.value.etag == stale
    assert (await store.get("k.json")).data == b"2"


async def test_put_if_with_an_etag_fails_when_key_is_missing(store: ObjectStore) -> None:
    etag = await store.put_if("k.json", b"1", None)
    await store.delete("k.json")
    with pytest.raises(PreconditionFailed):
        await store.put_if("k.json", b"2", etag)
    with pytest.raises(NotFound):
        await store.get("k.json")


async def test_put_if_accepts_empty_and_binary_data(store: ObjectStore) -> None:
    blob = bytes(range(256)) * 3
    etag = await store.put_if("blob", blob, None)
    assert (await store.get("blob")).data == blob
    await store.put_if("blob", b"", etag)
    assert (await store.get("blob")).data == b""


async def test_get_if_changed_is_none_for_the_current_etag(store: ObjectStore) -> None:
    etag = await store.put_if("k.json", b"1", None)
    assert await store.get_if_changed("k.json", etag) is None


async def test_get_if_changed_returns_the_object_when_it_changed(store: ObjectStore) -> None:
    old = await store.put_if("k.json", b"1", None)
    new = await store.put_if("k.json", b"2", old)
    changed = await store.get_if_changed("k.json", old)
    assert changed is not None
    assert (changed.data, changed.etag) == (b"2", new)


async def test_get_if_changed_without_etag_returns_the_object(store: ObjectStore) -> None:
    etag = await store.put_if("k.json", b"1", None)
    found = await store.get_if_changed("k.json", None)
    assert found is not None
    assert (found.data, found.etag) == (b"1", etag)


async def test_get_if_changed_raises_not_found_for_a_missing_key(store: ObjectStore) -> None:
    with pytest.raises(NotFound):
        await store.get_if_changed("k.json", "some-etag")


async def test_list_returns_keys_with_the_prefix_sorted(store: ObjectStore) -> None:
    for key in ["topics/b.json", "broker.json", "topics/a.json", "topics-x.json", "topics/c.json"]:
        await store.put_if(key, b"{}", None)
    assert await store.list("topics/") == ["topics/a.json", "topics/b.json", "topics/c.json"]
    assert await store.list("topics") == [
        "topics-x.json",
        "topics/a.json",
        "topics/b.json",
        "topics/c.json",
    ]
    assert await store.list("topics/b") == ["topics/b.json"]
    assert await store.list() == [
        "broker.json",
        "topics-x.json",
        "topics/a.json",
        "topics/b.json",
        "topics/c.json",
    ]


async def test_list_level_leaves_out_keys_below_the_level(store: ObjectStore) -> None:
    keys = ["topics/a.json", "topics/a/log/000000000001.json", "topics/a/checkpoint-1.json",
            "topics/b.json", "topics-x.json", "broker.json"]  # fmt: skip
    for key in keys:
        await store.put_if(key, b"{}", None)
    assert await store.list_level("topics/") == ["topics/a.json", "topics/b.json"]
    assert await store.list_level("topics/a") == ["topics/a.json"]
    assert await store.list_level("topics/a/") == ["topics/a/checkpoint-1.json"]
    assert await store.list_level() == ["broker.json", "topics-x.json"]
    assert await store.list_level("nothing/") == []


async def test_list_is_empty_when_nothing_matches(store: ObjectStore) -> None:
    assert await store.list() == []
    await store.put_if("broker.json", b"{}", None)
    assert await store.list("topics/") == []
    assert await store.list("nothing") == []


async def test_delete_without_etag_removes_the_key(store: ObjectStore) -> None:
    await store.put_if("topics/a.json", b"1", None)
    await store.put_if("topics/b.json", b"1", None)
    await store.delete("topics/a.json")
    with pytest.raises(NotFound):
        await store.get("topics/a.json")
    assert await store.list("topics/") == ["topics/b.json"]


async def test_delete_without_etag_of_a_missing_key_is_not_an_error(store: ObjectStore) -> None:
    await store.delete("topics/never.json")
    assert await store.list() == []


async def test_delete_with_the_current_etag_removes_the_key(store: ObjectStore) -> None:
    etag = await store.put_if("k.json", b"1", None)
    await store.delete("k.json", etag)
    with pytest.raises(NotFound):
        await store.get("k.json")


async def test_delete_fails_when_etag_is_stale(store: ObjectStore) -> None:
    stale = await store.put_if("k.json", b"1", None)
    await store.put_if("k.json", b"2", stale)
    with pytest.raises(PreconditionFailed):
        await store.delete("k.json", stale)
    assert (await store.get("k.json")).data == b"2"


async def test_delete_with_etag_fails_when_key_is_missing(store: ObjectStore) -> None:
    etag = await store.put_if("k.json", b"1", None)
    await store.delete("k.json")
    with pytest.raises(PreconditionFailed):
        await store.delete("k.json", etag)


async def test_a_deleted_key_can_be_created_again(store: ObjectStore) -> None:
    etag = await store.put_if("k.json", b"1", None)
    await store.delete("k.json", etag)
    await store.put_if("k.json", b"2", None)
    assert (await store.get("k.json")).data == b"2"
