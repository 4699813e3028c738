"""The reading rule of a topic's settings (common/topic_log.py, broker/DESIGN.md): the
checkpoint's, replaced whole by each log object that carries `settings`; a log object
without the field leaves them. Read by hand-made objects in a memory store, through both
readers (the document reader, whole and reading forward, and the broker's loader)."""

from __future__ import annotations

from typing import Any

import orjson

from broker import mutations
from broker.loading import load_stored
from broker.state import Limits
from common.keys import checkpoint_key, log_key, topic_key
from common.store import MemoryStore
from common.topic_log import DocumentReader, pointer_bytes, read_topic

TOPIC = "t"
TIME = "2026-12-02T01:00:00.000Z"
FLAGS = Limits(max_attempts=5, visibility_timeout_ms=30_000)


def token(generation: int) -> str:
    return f"{generation:016x}"


async def put_log(store: MemoryStore, generation: int, settings: Any = None) -> None:
    entry: dict[str, Any] = {
        "format": 3,
        "topic": TOPIC,
        "generation": generation,
        "parent": token(generation - 1),
        "token": token(generation),
        "writer": "w",
        "updated_at": TIME,
        "counters": {},
    }
    if settings is not None:
        entry["settings"] = settings
    entry |= {"removed": [], "jobs": []}
    await store.put_if(log_key(TOPIC, generation), orjson.dumps(entry), None)


async def stored_topic(checkpoint_settings: dict[str, Any]) -> MemoryStore:
    store = MemoryStore()
    ckpt = checkpoint_key(TOPIC, 1, "abcd1234")
    document = {"format": 1, "topic": TOPIC, "generation": 1, "writer": "w", "updated_at": TIME}
    document |= {"counters": {}, "settings": checkpoint_settings, "jobs": []}
    await store.put_if(ckpt, orjson.dumps(document), None)
    await store.put_if(topic_key(TOPIC), pointer_bytes(TOPIC, 1, token(1), ckpt), None)
    return store


async def settings_read(store: MemoryStore, reader: DocumentReader) -> tuple[Any, Any]:
    """The settings as the merged document has them, and as the broker's state has them."""
    merged = orjson.loads((await reader.get(TOPIC)).data).get("settings")
    state = load_stored(TOPIC, FLAGS, await read_topic(store, TOPIC))
    return merged, state.settings


async def test_each_log_object_with_settings_replaces_the_whole_set() -> None:
    store = await stored_topic({"max_attempts": 3, "retry_cap": 9.0})
    reader = DocumentReader(store)
    assert await settings_read(store, reader) == ({"max_attempts": 3, "retry_cap": 9.0},) * 2

    await put_log(store, 2)  # no field: unchanged
    assert await settings_read(store, reader) == ({"max_attempts": 3, "retry_cap": 9.0},) * 2

    await put_log(store, 3, {"paused": True})  # the whole set: max_attempts is gone
    await put_log(store, 4)
    assert await settings_read(store, reader) == ({"paused": True},) * 2
    state = load_stored(TOPIC, FLAGS, await read_topic(store, TOPIC))
    assert state.limits == Limits(max_attempts=5, visibility_timeout_ms=30_000, paused=True)

    await put_log(store, 5, {})  # the last override cleared: no settings, no field
    assert await settings_read(store, reader) == (None, {})
    state = load_stored(TOPIC, FLAGS, await read_topic(store, TOPIC))
    assert state.limits == FLAGS and state.peek_ready(0) is None  # empty, not paused


async def test_a_paused_topic_offers_no_job_until_resumed() -> None:
    store = await stored_topic({"paused": True})
    state = load_stored(TOPIC, FLAGS, await read_topic(store, TOPIC))
    mutations.enqueue(state, 0, "j", mutations.NewJob(payload=1))
    assert state.peek_ready(0) is None and mutations.claim(state, 0, "w", 1) == []
    mutations.change_settings(state, 0, {"paused": None})
    assert state.settings_changed and state.settings == {}
    assert len(mutations.claim(state, 0, "w", 1)) == 1
