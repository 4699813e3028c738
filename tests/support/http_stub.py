"""A scripted in-process HTTP server standing in for a broker, for client logic tests.

Each path answers from a list of canned replies (the last one repeats), and every request
is recorded, so a test can say exactly which calls were sent and retried. Tests of the
client against the real daemon use tests/support/daemon.py instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

Reply = Callable[[web.Request], web.StreamResponse]


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return lambda request: web.json_response(body, status=status, headers=headers)


# A claimed job as the broker sends it, and the 503 a retry may cure.
JOB = {"id": "j1", "status": "claimed", "created_at": "2026-11-28T10:00:00.000Z", "attempts": 1}
UNAVAILABLE = json_reply(
    503, {"error": "storage down", "code": "storage_unavailable"}, {"Retry-After": "0"}
)


def hang_up(request: web.Request) -> web.StreamResponse:
    """Read the request, then drop the connection without a reply."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


@dataclass
class Seen:
    path: str
    raw_path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Stub:
    url: str = ""
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    runner: web.AppRunner | None = None

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def bodies(self, path: str) -> list[Any]:
        return [seen.body for seen in self.seen if seen.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.seen.append(Seen(request.path, request.raw_path, body, dict(request.headers)))
        queue = self.replies.get(request.path) or [json_reply(404, {"code": "not_found"})]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def http_stub_factory() -> AsyncIterator[Callable[[], Awaitable[Stub]]]:
    """Start any number of stubs; all are stopped at teardown."""
    started: list[Stub] = []

    async def start() -> Stub:
        stub = Stub()
        await stub.start()
        started.append(stub)
        return stub

    yield start
    for stub in started:
        await stub.stop()


@pytest.fixture
async def http_stub(http_stub_factory: Callable[[], Awaitable[Stub]]) -> Stub:
    return await http_stub_factory()
