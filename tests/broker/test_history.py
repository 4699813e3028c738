"""Attempt history (broker/mutations.py): which outcome each way of ending a claim records,
the bound on attempts kept, and how stored histories load and show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from broker import mutations
from broker.loading import load_state
from broker.mutations import NewJob
from broker.records import api_json, format_ms
from broker.state import Limits, TopicState
from common.models import HISTORY_ATTEMPTS, HISTORY_ERROR_CHARS, DocumentInvalid, Job

NOW = 1_790_000_000_000


def topic(max_attempts: int = 0) -> TopicState:
    state = TopicState("t", Limits(max_attempts=max_attempts, visibility_timeout_ms=1000))
    mutations.enqueue(state, NOW, "j", NewJob("x"))
    return state


def history(state: TopicState) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = orjson.loads(state.jobs["j"].enc).get("history", [])
    return entries


def attempt(
    worker: str, claimed: int, ended: int | None = None, outcome: str = "", error: str = ""
) -> dict[str, Any]:
    """An attempt as stored, its times offsets from NOW."""
    stored = {"worker": worker, "claimed_at": format_ms(NOW + claimed)}
    if ended is not None:
        stored |= {"ended_at": format_ms(NOW + ended), "outcome": outcome}
    return stored | ({"error": error} if error else {})


def test_claim_nack_reap_ack_record_one_attempt_each_in_order() -> None:
    state = topic()
    mutations.claim(state, NOW, "w1", 1)
    assert history(state) == [attempt("w1", 0)]  # in flight
    mutations.nack(state, NOW + 1, "j", "w1", 0, "boom")
    mutations.claim(state, NOW + 2, "w2", 1)
    assert mutations.reap(state, NOW + 5000) == 1
    mutations.claim(state, NOW + 5001, "w3", 1)
    mutations.ack(state, NOW + 5002, "j", "w3")
    assert history(state) == [
        attempt("w1", 0, 1, "nacked", "boom"),
        attempt("w2", 2, 5000, "reaped", "lease expired: no heartbeat for 1s"),
        attempt("w3", 5001, 5002, "acked"),
    ]


def test_only_the_last_attempts_are_kept() -> None:
    state = topic()
    for n in range(HISTORY_ATTEMPTS + 3):
        mutations.claim(state, NOW + n, f"w{n}", 1)
        mutations.nack(state, NOW + n, "j", None, 0, None)
    kept = history(state)
    assert [a["worker"] for a in kept] == [f"w{n}" for n in range(3, HISTORY_ATTEMPTS + 3)]
    assert all(a["outcome"] == "nacked" and "error" not in a for a in kept)


def test_the_nack_that_kills_a_job_is_nacked_and_long_errors_are_cut() -> None:
    state = topic(max_attempts=1)
    mutations.claim(state, NOW, "w", 1)
    mutations.nack(state, NOW, "j", "w", 0, "e" * (HISTORY_ERROR_CHARS + 5))
    (attempt,) = history(state)
    assert state.jobs["j"].status == "dead" and attempt["outcome"] == "nacked"
    assert attempt["error"] == "e" * HISTORY_ERROR_CHARS
    assert len(state.jobs["j"].to_job().last_error or "") == HISTORY_ERROR_CHARS + 5


def test_a_takeover_loses_the_previous_attempt_and_starts_one() -> None:
    state = topic()
    mutations.claim(state, NOW, "c1", 1)
    mutations.take_over(state, NOW + 1, ["j"], "c1", 0, owned_by="c1")  # re-read: goes on
    assert [a.get("outcome") for a in history(state)] == [None]
    mutations.take_over(state, NOW + 2, ["j"], "c2", 0)
    assert history(state) == [attempt("c1", 0, 2, "lost", "taken over by c2"), attempt("c2", 2)]


def test_a_requeue_while_claimed_loses_the_attempt_and_a_dead_requeue_adds_none() -> None:
    state = topic(max_attempts=1)
    mutations.claim(state, NOW, "w", 1)
    mutations.requeue(state, NOW + 1, "j")
    assert [(a["outcome"], a["error"]) for a in history(state)] == [
        ("lost", "requeued while claimed")
    ]
    mutations.claim(state, NOW + 2, "w", 1)
    mutations.nack(state, NOW + 3, "j", "w", 0, None)
    mutations.requeue(state, NOW + 4, "j")  # dead: no attempt in flight
    assert [a["outcome"] for a in history(state)] == ["lost", "nacked"]


def test_a_pop_is_one_acked_attempt_without_a_worker() -> None:
    state = topic()
    mutations.pop(state, NOW, 1)
    stamp = format_ms(NOW)
    assert history(state) == [{"claimed_at": stamp, "ended_at": stamp, "outcome": "acked"}]


def _loaded(jobs: list[dict[str, Any]]) -> TopicState:
    document = {
        "format": 1,
        "topic": "t",
        "generation": 1,
        "writer": "w",
        "updated_at": format_ms(NOW),
        "jobs": jobs,
    }
    return load_state("t", Limits(), "topics/t.json", orjson.dumps(document), "etag")


def test_a_stored_history_loads_and_shows_as_the_model_shows_it() -> None:
    state = topic()
    mutations.claim(state, NOW, "w", 1)
    mutations.nack(state, NOW + 1, "j", "w", 0, "boom")
    mutations.claim(state, NOW + 2, "w", 1)
    enc = state.jobs["j"].enc
    loaded = _loaded([orjson.loads(enc)]).jobs["j"]
    assert loaded.enc == enc
    model = Job.model_validate_json(enc)
    assert orjson.loads(api_json(enc)) == model.model_dump(mode="json", exclude_none=True)
    # Another writer's form (other field order, a +00:00 time) shows as the model's.
    other = orjson.loads(enc)
    other["history"][0] = {"outcome": "nacked", **other["history"][0]}
    other["history"][1]["claimed_at"] = format_ms(NOW + 2).replace("Z", "+00:00")
    shown = orjson.loads(api_json(orjson.dumps(other)))["history"]
    assert orjson.dumps(shown) == orjson.dumps(orjson.loads(enc)["history"])


@pytest.mark.parametrize(
    "bad",
    [
        "not a list",
        [{"worker": "w"}],  # no claimed_at
        [{"claimed_at": "yesterday"}],
        [{"claimed_at": format_ms(NOW), "outcome": "vanished"}],
        [{"claimed_at": format_ms(NOW), "worker": 7}],
        [{"claimed_at": format_ms(NOW), "colour": "red"}],
    ],
)
def test_an_invalid_stored_history_is_refused_naming_the_field(bad: Any) -> None:
    job = {
        "id": "j",
        "status": "completed",
        "created_at": format_ms(NOW),
        "attempts": 1,
        "history": bad,
    }
    with pytest.raises(DocumentInvalid, match=r"field jobs\.0\.history"):
        _loaded([job])


def test_a_stored_format_1_fixture_loads_unchanged_and_its_old_claim_ends_without_history() -> None:
    path = Path(__file__).parent / "fixtures" / "format1" / "topics" / "whole.json"
    data = path.read_bytes()
    state = load_state("whole", Limits(), "topics/whole.json", data, "etag")
    stored = orjson.loads(data)["jobs"]
    assert [rec.enc for rec in state.jobs.values()] == [orjson.dumps(job) for job in stored]
    (old_claim,) = state.claimed.values()
    mutations.heartbeat(state, NOW, old_claim.id, None)
    mutations.ack(state, NOW, old_claim.id, None)
    assert "history" not in orjson.loads(old_claim.enc)
