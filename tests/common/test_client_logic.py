"""The client's retry and error-mapping rules, against a scripted in-process HTTP server
(tests/support/http_stub.py), so that each test can say exactly which failures are retried.
The client against the real daemon is tested in test_client_daemon.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import web

from common.client import (
    BadRequest,
    BrokerUnavailable,
    Client,
    ClientError,
    DocumentBroken,
    JobNotFound,
    LeaseLost,
    NothingToClaim,
    PayloadTooLarge,
    StorageFailed,
    Unauthorized,
    error_from_reply,
)
from common.errors import CODES
from tests.support.http_stub import JOB, UNAVAILABLE, Stub, hang_up, json_reply


@pytest.fixture
def stub(http_stub: Stub) -> Stub:
    return http_stub


def client_of(stub: Stub, **kw: Any) -> Client:
    return Client(stub.url, backoff=0.001, max_backoff=0.01, **kw)


async def test_enqueue_retries_503_with_the_same_generated_id(stub: Stub) -> None:
    path = "/topics/orders/enqueue"
    stub.script(path, UNAVAILABLE, UNAVAILABLE, json_reply(201, {"id": "x"}))
    async with client_of(stub) as client:
        await client.enqueue("orders", {"item": "book"})
    bodies = stub.bodies(path)
    assert len(bodies) == 3
    ids = {body["id"] for body in bodies if body}
    assert len(ids) == 1 and ids != {None}


async def test_enqueue_reports_existing_id_as_not_created(stub: Stub) -> None:
    stub.script("/topics/orders/enqueue", json_reply(200, {"id": "job-1", "created": False}))
    async with client_of(stub) as client:
        done = await client.enqueue_job("orders", 1, id="job-1")
    assert (done.id, done.created) == ("job-1", False)
    assert stub.bodies("/topics/orders/enqueue") == [{"payload": 1, "id": "job-1"}]


async def test_enqueue_gives_up_after_the_retries(stub: Stub) -> None:
    stub.script("/topics/orders/enqueue", UNAVAILABLE)
    async with client_of(stub, retries=2) as client:
        with pytest.raises(BrokerUnavailable, match="storage down"):
            await client.enqueue("orders", 1)
    assert len(stub.bodies("/topics/orders/enqueue")) == 3


@pytest.mark.parametrize("route", ["claim", "ack", "nack"])
async def test_claim_ack_nack_are_retried_after_503_as_nothing_changed(
    stub: Stub, route: str
) -> None:
    stub.script(f"/topics/t/{route}", UNAVAILABLE, json_reply(200, {"job": JOB, "jobs": [JOB]}))
    async with client_of(stub) as client:
        if route == "claim":
            assert [job.id for job in await client.claim("t", "w1")] == ["j1"]
        else:
            assert (await getattr(client, route)("t", "j1")).id == "j1"
    assert len(stub.bodies(f"/topics/t/{route}")) == 2


@pytest.mark.parametrize("route", ["claim", "ack", "nack", "requeue", "delete"])
async def test_calls_that_may_have_acted_are_not_retried_after_a_dropped_connection(
    stub: Stub, route: str
) -> None:
    paths = {"requeue": "/topics/t/jobs/j1/requeue", "delete": "/topics/t/jobs/j1"}
    path = paths.get(route, f"/topics/t/{route}")
    stub.script(path, hang_up, json_reply(200, {"job": JOB, "jobs": [JOB]}))
    async with client_of(stub) as client:
        with pytest.raises(BrokerUnavailable, match="may or may not"):
            if route == "claim":
                await client.claim("t", "w1")
            else:
                await getattr(client, route)("t", "j1")
    assert len([seen for seen in stub.seen if seen.path == path]) == 1


async def test_heartbeat_is_retried_when_the_connection_drops(stub: Stub) -> None:
    stub.script("/topics/t/heartbeat", hang_up, json_reply(200, {"job": JOB}))
    async with client_of(stub) as client:
        job = await client.heartbeat("t", "j1", worker_id="w1")
    assert job.id == "j1"
    assert stub.bodies("/topics/t/heartbeat") == [{"job_id": "j1", "worker_id": "w1"}] * 2


async def test_unreachable_broker_is_one_clear_error() -> None:
    async with Client("http://127.0.0.1:9", retries=1, backoff=0.001) as client:
        with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:9 is unreachable"):
            await client.status("orders")


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (409, "lease_lost", LeaseLost),
        (404, "job_not_found", JobNotFound),
        (413, "payload_too_large", PayloadTooLarge),
        (401, "unauthorized", Unauthorized),
        (400, "bad_request", BadRequest),
    ],
)
async def test_error_codes_become_named_errors(
    stub: Stub, status: int, code: str, kind: type[ClientError]
) -> None:
    stub.script("/topics/t/ack", json_reply(status, {"error": f"it is {code}", "code": code}))
    async with client_of(stub) as client:
        with pytest.raises(kind, match=f"it is {code}") as caught:
            await client.ack("t", "j1")
    assert (caught.value.code, caught.value.status) == (code, status)


async def test_reply_without_json_body_is_mapped_by_status(stub: Stub) -> None:
    stub.script("/topics/t/ack", lambda r: web.Response(status=502, text="bad gateway\n"))
    async with client_of(stub) as client:
        with pytest.raises(ClientError, match="HTTP 502: bad gateway") as caught:
            await client.ack("t", "j1")
    assert caught.value.code == "http_error"


async def test_empty_claim_is_an_empty_list_and_claim_one_raises(stub: Stub) -> None:
    stub.script("/topics/t/claim", json_reply(404, {"error": "nothing", "code": "empty"}))
    async with client_of(stub) as client:
        assert await client.claim("t", "w1", wait=0.5) == []
        with pytest.raises(NothingToClaim):
            await client.claim_one("t", "w1")
    assert stub.bodies("/topics/t/claim")[0] == {"worker_id": "w1", "count": 1, "wait_seconds": 0.5}


async def test_token_is_sent_as_bearer(stub: Stub) -> None:
    stub.script("/topics/t/status", json_reply(200, {"topic": "t", "pending": 2}))
    async with client_of(stub, token="s3cret") as client:
        stats = await client.status("t")
    assert stats.pending == 2
    assert stub.seen[0].headers["Authorization"] == "Bearer s3cret"


async def test_invalid_topic_is_refused_before_any_request(stub: Stub) -> None:
    async with client_of(stub) as client:
        with pytest.raises(BadRequest, match="invalid topic name") as caught:
            await client.enqueue("../broker", 1)
    assert caught.value.code == "invalid_topic"
    assert stub.seen == []


async def test_job_ids_are_escaped_in_paths(stub: Stub) -> None:
    stub.script("/topics/t/jobs/a/b", json_reply(200, {"job": JOB}))
    async with client_of(stub) as client:
        await client.job("t", "a/b")
    assert stub.seen[0].raw_path == "/topics/t/jobs/a%2Fb"


async def test_a_broken_document_is_not_retried_and_is_a_storage_error(stub: Stub) -> None:
    broken = json_reply(503, {"error": "topics/t.json: invalid", "code": "document_invalid"})
    stub.script("/topics/t/status", broken, json_reply(200, {"topic": "t"}))
    async with client_of(stub) as client:
        with pytest.raises(DocumentBroken, match=r"topics/t\.json") as caught:
            await client.status("t")
    assert isinstance(caught.value, StorageFailed)  # exit 8 in the CLI, not 5
    assert len([seen for seen in stub.seen if seen.path == "/topics/t/status"]) == 1


def test_every_broker_error_code_is_in_the_shared_table() -> None:
    from broker import errors

    def codes(kind: type[errors.BrokerError]) -> set[str]:
        return {kind.code}.union(*(codes(sub) for sub in kind.__subclasses__()))

    assert codes(errors.BrokerError) <= set(CODES)


@pytest.mark.parametrize("code", list(CODES))
def test_each_code_becomes_its_error_with_its_status(code: str) -> None:
    status, kind = CODES[code]
    error = error_from_reply(status, orjson.dumps({"error": "why", "code": code}))
    assert type(error) is kind and (error.code, error.status) == (code, status)
