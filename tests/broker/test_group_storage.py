"""How consumer groups are stored (broker/DESIGN.md, "Storage layout"): a document with
groups (a fixture as a broker writes it) loads and round-trips; a log object carries only
the groups a commit changed, and names destroyed ones; an XADD to a stream with groups
and a topic without any write what they wrote before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from broker import groups as named
from broker.engine import Engine, EngineSettings
from broker.topic import Topic
from common.keys import log_key, topic_key
from common.models import GroupDocument, TopicDocument, load_document
from common.store import MemoryStore
from common.topic_log import DocumentReader

FIXTURE = Path(__file__).parent / "fixtures" / "format1-groups" / "topics" / "fan.json"
LONG_LEASE = EngineSettings(visibility_timeout=10**7)  # the fixture's claim stays claimed
OLD_LOG_FIELDS = {"format", "topic", "generation", "parent", "token", "writer", "updated_at"}
OLD_LOG_FIELDS |= {"counters", "removed", "jobs"}


async def stored_fixture() -> MemoryStore:
    store = MemoryStore()
    await store.put_if(topic_key("fan"), FIXTURE.read_bytes(), None)
    return store


async def loaded(store: MemoryStore, topic: str = "fan") -> Topic:
    found = Engine(store, LONG_LEASE).topic(topic)
    await found.load()
    return found


async def document(store: MemoryStore, topic: str = "fan") -> TopicDocument:
    found = await DocumentReader(store).get(topic)
    return load_document(TopicDocument, topic_key(topic), found.data)


async def last_log(store: MemoryStore, topic: Topic) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads((await store.get(log_key("fan", topic.generation))).data)
    return found


def groups_of(topic: Topic) -> dict[str, named.Group]:
    state = topic.current_state()
    assert state is not None
    return state.groups


async def test_a_stored_document_with_groups_loads_and_round_trips() -> None:
    store = await stored_fixture()
    before = load_document(TopicDocument, "fan", FIXTURE.read_bytes())
    topic = await loaded(store)
    groups = groups_of(topic)
    assert list(groups) == ["a", "b"]
    assert [(r.id, r.status, r.claimed_by) for r in groups["a"].queue.jobs.values()] == [
        ("2-0", "claimed", "c1")
    ]
    assert before.groups is not None
    assert groups["a"].document() == before.groups[0].model_dump(mode="json", exclude_none=True)
    # A write (the first one moves the topic to the log layout) keeps the groups as read.
    await topic.in_group(named.create_consumer, key="fan", name="b", consumer="c2")
    after = await document(store)
    assert after.kind == "stream"
    assert after.groups is not None and after.groups[0] == before.groups[0]
    assert after.groups[1].consumers.keys() == {"c2"}
    assert after.jobs == before.jobs


async def test_a_log_object_carries_the_changed_groups_and_the_destroyed_ones() -> None:
    store = await stored_fixture()
    topic = await loaded(store)
    await topic.in_group(named.create_consumer, key="fan", name="b", consumer="c2")
    acked = await topic.in_group(named.ack, key="fan", name="a", ids=["2-0"])
    assert acked == 1
    entry = await last_log(store, topic)
    assert [group["name"] for group in entry["groups"]] == ["a"]  # b did not change
    assert entry["groups"][0]["deliveries"] == []  # only what changed: one record removed
    assert entry["groups"][0]["removed_deliveries"] == ["2-0"]
    assert "destroyed_groups" not in entry and entry["kind"] == "stream"
    await topic.in_group(named.destroy, key="fan", name="b")
    entry = await last_log(store, topic)
    assert entry["destroyed_groups"] == ["b"] and "groups" not in entry
    # 2-0 was only waiting for b: done in every group left, so completed.
    assert [(job["id"], job["status"]) for job in entry["jobs"]] == [("2-0", "completed")]
    merged = await document(store)  # checkpoint + log objects, by the merge rule
    assert [job.status for job in merged.jobs] == ["completed", "completed", "pending"]
    assert [g.name for g in merged.groups or []] == ["a"]
    again = await loaded(store)  # and a broker loading it sees the same
    assert list(groups_of(again)) == ["a"]
    assert groups_of(again)["a"].document() == groups_of(topic)["a"].document()


async def test_a_claim_writes_only_the_records_it_changed() -> None:
    store = await stored_fixture()
    topic = await loaded(store)
    await topic.in_group(named.create_consumer, key="fan", name="b", consumer="c2")  # upgrade
    claimed = await topic.in_group(
        named.claim, key="fan", name="a", consumer="c9", count=1, noack=False
    )
    assert [job.id for job in claimed] == ["3-0"]
    (group,) = (await last_log(store, topic))["groups"]
    assert [(d["id"], d["status"]) for d in group["deliveries"]] == [("3-0", "claimed")]
    assert "removed_deliveries" not in group and group["last_id"] == "3-0"
    merged = await document(store)  # the fixture's record of 2-0, then the new one
    (a, _) = merged.groups or []
    assert [(d.id, d.claimed_by) for d in a.deliveries] == [("2-0", "c1"), ("3-0", "c9")]
    again = await loaded(store)
    assert groups_of(again)["a"].document() == groups_of(topic)["a"].document()


async def test_a_group_destroyed_and_made_again_starts_over() -> None:
    store = await stored_fixture()
    topic = await loaded(store)
    await topic.in_group(named.create_consumer, key="fan", name="b", consumer="c2")
    await topic.in_group(named.destroy, key="fan", name="a")
    await topic.in_group(named.create, name="a", start="0", mkstream=False, entries_read=None)
    merged = await document(store)
    a = {g.name: g for g in merged.groups or []}["a"]
    assert (a.last_id, a.deliveries, a.consumers) == ("0-0", [], {})
    again = await loaded(store)
    assert groups_of(again)["a"].document() == groups_of(topic)["a"].document()


async def test_xadd_to_a_stream_with_groups_writes_no_group_bytes() -> None:
    store = MemoryStore()
    topic = Engine(store).topic("fan")
    for name in ("a", "b", "c"):
        await topic.in_group(named.create, name=name, start="$", mkstream=True, entries_read=None)
    await topic.enqueue("x", id="1-0")
    entry = await last_log(store, topic)
    assert set(entry) == OLD_LOG_FIELDS | {"kind"}


async def test_a_topic_without_groups_is_written_as_before() -> None:
    store = MemoryStore()
    topic = Engine(store).topic("plain")
    await topic.enqueue("x", id="j1")
    await topic.enqueue("y", id="j2")
    found = orjson.loads((await store.get(log_key("plain", topic.generation))).data)
    assert set(found) == OLD_LOG_FIELDS
    whole = orjson.loads((await DocumentReader(store).get("plain")).data)
    header = ["format", "topic", "generation", "writer", "updated_at", "counters", "jobs"]
    assert list(whole) == header


def test_a_group_document_refuses_unknown_fields() -> None:
    doc = orjson.loads(FIXTURE.read_bytes())["groups"][0]
    GroupDocument.model_validate(doc)
    try:
        GroupDocument.model_validate({**doc, "extra": 1})
    except ValueError as exc:
        assert "extra" in str(exc)
    else:
        raise AssertionError("an unknown field was accepted")
