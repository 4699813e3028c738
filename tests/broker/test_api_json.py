"""A job's API JSON made straight from its document bytes is byte for byte the model's
dump (the wire contract: `Job.model_dump(mode="json", exclude_none=True)`)."""

from __future__ import annotations

import orjson
import pytest

from broker.records import api_json, encode_fields, job_from_json


def model_dump_json(enc: bytes) -> bytes:
    return orjson.dumps(job_from_json(enc).model_dump(mode="json", exclude_none=True))


STAMP = "2026-11-28T10:00:00.123Z"

STORED_JOBS = [
    # as the broker writes them
    encode_fields(
        {
            "id": "a",
            "status": "claimed",
            "payload": {"n": [1, 2.5, None, "x"]},
            "created_at": STAMP,
            "available_at": STAMP,
            "attempts": 1,
            "claimed_by": "w",
            "claimed_at": STAMP,
            "last_heartbeat": STAMP,
        }
    ),
    encode_fields(
        {
            "id": "b",
            "status": "dead",
            "payload": "aGk=",
            "payload_encoding": "base64",
            "created_at": STAMP,
            "attempts": 5,
            "last_error": "boom",
        }
    ),
    # as another writer may have left them: other time forms, fields in another order,
    # attempts or payload missing, explicit nulls
    b'{"status":"pending","id":"c","created_at":"2026-11-28T11:00:00+01:00","payload":null}',
    b'{"id":"f","status":"pending","payload":null,"created_at":"2026-11-28T10:00:00.123Z",'
    b'"attempts":0,"claimed_by":null}',
    b'{"id":"d","status":"pending","created_at":"2026-11-28T10:00:00.1239Z","attempts":0}',
    b'{"id":"e","status":"completed","payload":1,"created_at":"2026-11-28T10:00:00Z",'
    b'"attempts":2,"completed_at":"2026-11-28T10:00:01.000Z","claimed_by":null}',
]


@pytest.mark.parametrize("enc", STORED_JOBS)
def test_api_json_is_the_model_dump_of_the_stored_job(enc: bytes) -> None:
    assert api_json(enc) == model_dump_json(enc)
