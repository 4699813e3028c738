"""The hot-path mutations write the same bytes as the generic encoding."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from broker.mutations import NewJob, enqueue, pop, pop_values
from broker.records import encode_fields, format_ms
from broker.state import Limits, TopicState
from common.payload import payload_to_bytes

NOW = 1_790_000_000_123
PAYLOADS: list[tuple[Any, str | None]] = [
    (None, None),
    ("text", None),
    ("", None),
    ({"a": [1, 2.5, None]}, None),
    ([], None),
    (0, None),
    (False, None),
    ("AAEC", "base64"),
]


@pytest.mark.parametrize(("payload", "encoding"), PAYLOADS)
@pytest.mark.parametrize("delay", [0.0, 2.5])
def test_an_enqueued_job_is_encoded_as_encode_fields_encodes_it(
    payload: Any, encoding: str | None, delay: float
) -> None:
    state = TopicState("t", Limits())
    enqueue(state, NOW, "id-1", NewJob(payload, "id-1", delay, encoding))
    expected = encode_fields(
        {
            "id": "id-1",
            "status": "pending",
            "payload": payload,
            "payload_encoding": encoding,
            "created_at": format_ms(NOW),
            "available_at": format_ms(NOW + round(delay * 1000)),
            "attempts": 0,
        }
    )
    assert state.jobs["id-1"].enc == expected


def test_pop_values_are_the_payload_bytes_of_the_popped_jobs() -> None:
    state = TopicState("t", Limits())
    for n, (payload, encoding) in enumerate(PAYLOADS):
        enqueue(state, NOW, f"id-{n}", NewJob(payload, f"id-{n}", 0.0, encoding))
    values = pop_values(state, NOW, 5)
    assert values == [payload_to_bytes(p, e) for p, e in PAYLOADS[:5]]
    (rest,) = [pop(state, NOW, 1)]
    assert orjson.loads(rest[0])["status"] == "completed"
