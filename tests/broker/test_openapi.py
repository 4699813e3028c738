"""The /openapi.json a real daemon serves: a valid OpenAPI document whose every `$ref`
resolves, whose request schemas are those of the models that validate the requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.support.daemon import Daemon, start_daemon

pytestmark = pytest.mark.slow  # the document is the one a daemon serves


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    daemon: Daemon = start_daemon("--dir", str(tmp_path_factory.mktemp("openapi")))
    try:
        status, served = daemon.request("GET", "/openapi.json")
        assert status == 200
        yield served
    finally:
        daemon.stop()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_served_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises with the first problem (unresolvable refs included)


def test_every_ref_points_at_a_component(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert "#/components/schemas/JobStatus" in refs  # the ones that once dangled
    for ref in refs:
        prefix, _, name = ref.rpartition("/")
        assert prefix == "#/components/schemas", ref
        assert name in schemas, ref


def _body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    content = document["paths"][path]["post"]["requestBody"]["content"]
    ref = content["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rpartition("/")[2]]
    return schema


def test_request_schemas_forbid_unknown_fields_and_show_ranges(document: dict[str, Any]) -> None:
    enqueue = _body_schema(document, "/topics/{topic}/enqueue")
    assert enqueue["additionalProperties"] is False
    assert enqueue["required"] == ["payload"]
    assert enqueue["properties"]["delay_seconds"]["maximum"] == 31_536_000
    assert enqueue["properties"]["id"]["anyOf"][0]["maxLength"] == 256
    claim = _body_schema(document, "/topics/{topic}/claim")
    assert claim["additionalProperties"] is False
    assert (claim["properties"]["count"]["minimum"], claim["properties"]["count"]["maximum"]) == (
        1,
        1000,
    )
    assert claim["properties"]["wait_seconds"]["maximum"] == 300
    nack = _body_schema(document, "/topics/{topic}/nack")
    assert set(nack["properties"]) == {"job_id", "worker_id", "delay_seconds", "error"}
    jobs = document["paths"]["/topics/{topic}/jobs"]["get"]["parameters"]
    limit = next(p for p in jobs if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000


def test_a_job_documents_its_attempt_history(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    history = schemas["Job"]["properties"]["history"]["anyOf"][0]
    assert history["items"] == {"$ref": "#/components/schemas/Attempt"}
    attempt = schemas["Attempt"]
    assert set(attempt["properties"]) == {"worker", "claimed_at", "ended_at", "outcome", "error"}
    assert attempt["required"] == ["claimed_at"]
    assert schemas["AttemptOutcome"]["enum"] == ["acked", "nacked", "reaped", "lost"]
