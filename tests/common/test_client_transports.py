"""The client's rules hold whichever transport carries its requests: the aiohttp session
(the default) and the standard library's http.client (what one-shot `simplequeue`
commands use). Each case runs once per transport against the scripted stub server
(tests/support/http_stub.py); test_client_logic.py covers the rules in full on the default.

BlockingTransport blocks its event loop while it waits, and the stub answers on this
test's loop, so a client on it runs in a thread with a loop of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from common.client import (
    AiohttpTransport,
    BlockingTransport,
    BrokerUnavailable,
    Client,
    ClientError,
    LeaseLost,
    Transport,
)
from tests.support.http_stub import JOB, UNAVAILABLE, Stub, hang_up, json_reply

TransportKind = Callable[..., Transport]


@pytest.fixture(params=[AiohttpTransport, BlockingTransport], ids=["aiohttp", "stdlib"])
def transport(request: pytest.FixtureRequest) -> TransportKind:
    kind: TransportKind = request.param
    return kind


async def with_client(
    url: str, transport: TransportKind, action: Callable[[Client], Awaitable[Any]], **kw: Any
) -> Any:
    """`action(client)` on a client of `url` over `transport` (see the module docstring)."""

    async def run() -> Any:
        async with Client(
            url, backoff=0.001, max_backoff=0.01, transport=transport, **kw
        ) as client:
            return await action(client)

    if transport is BlockingTransport:
        return await asyncio.to_thread(asyncio.run, run())
    return await run()


async def test_503_is_retried_with_the_same_generated_id(
    http_stub: Stub, transport: TransportKind
) -> None:
    path = "/topics/orders/enqueue"
    http_stub.script(path, UNAVAILABLE, UNAVAILABLE, json_reply(201, {"id": "x", "created": True}))
    await with_client(http_stub.url, transport, lambda c: c.enqueue("orders", {"n": 1}))
    ids = [body["id"] for body in http_stub.bodies(path)]
    assert len(ids) == 3 and len(set(ids)) == 1


async def test_a_claim_is_not_repeated_after_a_dropped_connection(
    http_stub: Stub, transport: TransportKind
) -> None:
    http_stub.script("/topics/t/claim", hang_up, json_reply(200, {"jobs": [JOB]}))
    with pytest.raises(BrokerUnavailable, match="may or may not"):
        await with_client(http_stub.url, transport, lambda c: c.claim("t", "w1"))
    assert len(http_stub.bodies("/topics/t/claim")) == 1


async def test_a_heartbeat_is_repeated_after_a_dropped_connection(
    http_stub: Stub, transport: TransportKind
) -> None:
    http_stub.script("/topics/t/heartbeat", hang_up, json_reply(200, {"job": JOB}))
    job = await with_client(http_stub.url, transport, lambda c: c.heartbeat("t", "j1"))
    assert job.id == "j1"
    assert len(http_stub.bodies("/topics/t/heartbeat")) == 2


async def test_unreachable_broker(transport: TransportKind) -> None:
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:9 is unreachable"):
        await with_client("http://127.0.0.1:9", transport, lambda c: c.health(), retries=1)


async def test_error_codes_and_bodies_map_the_same(
    http_stub: Stub, transport: TransportKind
) -> None:
    http_stub.script("/topics/t/ack", json_reply(409, {"error": "lost", "code": "lease_lost"}))
    with pytest.raises(LeaseLost, match="lost") as caught:
        await with_client(http_stub.url, transport, lambda c: c.ack("t", "j1"))
    assert (caught.value.code, caught.value.status) == ("lease_lost", 409)
    http_stub.script("/topics/t/nack", lambda r: web.Response(status=502, text="bad gateway\n"))
    with pytest.raises(ClientError, match="HTTP 502: bad gateway"):
        await with_client(http_stub.url, transport, lambda c: c.nack("t", "j1"))


async def test_headers_query_and_escaped_paths(http_stub: Stub, transport: TransportKind) -> None:
    http_stub.script("/topics/t/jobs", json_reply(200, {"jobs": [JOB], "next": "j1"}))
    http_stub.script("/topics/t/jobs/a/b", json_reply(200, {"job": JOB}))

    async def calls(client: Client) -> Any:
        page = await client.jobs("t", status="claimed", limit=5, after="j0")
        await client.job("t", "a/b")
        return page

    jobs, cursor = await with_client(http_stub.url, transport, calls, token="s3cret")
    assert ([job.id for job in jobs], cursor) == (["j1"], "j1")
    listing, single = http_stub.seen
    assert listing.raw_path == "/topics/t/jobs?limit=5&status=claimed&after=j0"
    assert single.raw_path == "/topics/t/jobs/a%2Fb"
    for seen in http_stub.seen:
        assert seen.headers["Authorization"] == "Bearer s3cret"
        assert seen.headers["Accept"] == "application/json"
