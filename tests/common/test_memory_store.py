"""Fast checks of the in-memory store; the full contract suite runs on every backend."""

import pytest

from common.store import MemoryStore, NotFound, PreconditionFailed


async def test_memory_store_compare_and_set() -> None:
    store = MemoryStore()
    etag = await store.put_if("k", b"1", None)
    with pytest.raises(PreconditionFailed):
        await store.put_if("k", b"2", None)
    new = await store.put_if("k", b"2", etag)
    with pytest.raises(PreconditionFailed):
        await store.put_if("k", b"3", etag)
    assert (await store.get("k")).data == b"2"
    assert await store.get_if_changed("k", new) is None
    await store.delete("k")
    with pytest.raises(NotFound):
        await store.get("k")
