"""The plain bodies of enqueue, claim and ack are read without running pydantic's
validators, and give exactly what `model_validate` gives (or it decides)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from broker.errors import InvalidRequest
from broker.http import requests
from broker.http.requests import (
    ClaimRequest,
    EnqueueRequest,
    JobRequest,
    NackRequest,
    RequestBody,
    parse_body,
)
from common.limits import MAX_ID_CHARS

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=2000),
    st.sampled_from([0.5, 1.0, 299.9, 300.0, 300.5, 1e300, float("inf"), float("nan"), -0.0]),
    st.sampled_from(["", "w", "x" * MAX_ID_CHARS, "x" * (MAX_ID_CHARS + 1), "é"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)
FIELDS = ["payload", "id", "delay_seconds", "worker_id", "count", "wait_seconds", "job_id", "x"]
MODELS: list[type[RequestBody]] = [EnqueueRequest, ClaimRequest, JobRequest, NackRequest]


def outcome(model: type[RequestBody], body: dict[str, Any]) -> Any:
    try:
        found = parse_body(model, body)
    except InvalidRequest as exc:
        return ("refused", exc.message)
    return (type(found), found.model_dump())


def validated(model: type[RequestBody], body: dict[str, Any]) -> Any:
    try:
        found = model.model_validate(body)
    except ValidationError:
        return ("refused",)
    return (type(found), found.model_dump())


@settings(max_examples=1500, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    body=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
)
def test_plain_bodies_read_as_pydantic_reads_them(
    model: type[RequestBody], body: dict[str, Any]
) -> None:
    mine, theirs = outcome(model, body), validated(model, body)
    assert mine[0] == theirs[0]
    if mine[0] != "refused":
        assert mine[1] == theirs[1]
        assert [type(v) for v in mine[1].values()] == [type(v) for v in theirs[1].values()]


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (EnqueueRequest, {"payload": {"n": 1}}),
        (EnqueueRequest, {"payload": None, "id": "a", "delay_seconds": 5}),
        (ClaimRequest, {"worker_id": "w", "count": 10, "wait_seconds": 1.5}),
        (JobRequest, {"job_id": "j", "worker_id": "w"}),
    ],
)
def test_plain_bodies_skip_pydantic_validation(
    model: type[RequestBody], body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("model_validate was called")

    monkeypatch.setattr(model, "model_validate", refuse)
    assert isinstance(requests.parse_body(model, body), model)
