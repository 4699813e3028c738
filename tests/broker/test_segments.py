"""Segments: the document a commit writes is every job's own encoding, in order, however
jobs were added, changed and removed across segment boundaries."""

from __future__ import annotations

import orjson

from broker import mutations
from broker.loading import load_state
from broker.mutations import NewJob
from broker.records import SEGMENT_JOBS, now_ms
from broker.state import Limits, TopicState


def expected_jobs(state: TopicState) -> list[object]:
    return [rec.fields() for rec in state.jobs.values()]


def encoded_jobs(state: TopicState, generation: int) -> list[object]:
    jobs: list[object] = orjson.loads(state.encode(generation, "test", now_ms()))["jobs"]
    return jobs


def test_commits_after_changes_in_many_segments_carry_exactly_the_live_jobs() -> None:
    state = TopicState("t", Limits(completed_retention=10))
    now = now_ms()
    count = 2 * SEGMENT_JOBS + 100
    for n in range(count):
        mutations.enqueue(state, now, f"job-{n}", NewJob({"n": n}))
    assert encoded_jobs(state, 1) == expected_jobs(state)

    encs = mutations.claim(state, now, "w", count=SEGMENT_JOBS + 5)  # spans two segments
    claimed = [orjson.loads(enc)["id"] for enc in encs]
    for job_id in claimed[::2]:
        mutations.ack(state, now, job_id, "w")
    mutations.delete(state, now, f"job-{count - 1}")
    mutations.trim(state)  # drops acked jobs from the first segments
    mutations.enqueue(state, now, "late", NewJob("tail"))
    assert encoded_jobs(state, 2) == expected_jobs(state)
    assert len(state.jobs) < count

    # Unchanged segments are reused; a further change shows up in the next commit.
    mutations.heartbeat(state, now, claimed[1], "w")
    assert encoded_jobs(state, 3) == expected_jobs(state)


def test_a_loaded_document_encodes_back_to_the_same_jobs() -> None:
    state = TopicState("t", Limits())
    now = now_ms()
    for n in range(SEGMENT_JOBS + 3):
        mutations.enqueue(state, now, f"job-{n}", NewJob({"n": n}))
    data = state.encode(7, "test", now)
    loaded = load_state("t", Limits(), "topics/t.json", data, "etag")
    assert loaded.encode(7, "test", now) == data
    assert [rec.id for rec in loaded.jobs.values()] == [rec.id for rec in state.jobs.values()]
