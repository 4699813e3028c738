"""A proxy in front of moto's S3 server that can lose the answer to a write.

`lossy_s3` (fixture) starts an HTTP proxy on a free loopback port, forwarding every
request to `moto_server`. `proxy.lose_next_put(suffix)` arms it: the next PUT whose path
ends with `suffix` is forwarded, lands in moto, and then the proxy closes the connection
without answering. The client (botocore, in a broker subprocess) sees the connection
drop and retries the PUT, which now meets its own write: for a conditional PUT, a 412.
This is the lost answer of a real network, with no hook in the product.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from tests.support.moto import MotoServer

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "upgrade"}
)
START_TIMEOUT = 30.0


@dataclass
class LossyProxy:
    upstream: str
    url: str = ""
    armed: list[str] = field(default_factory=list)  # path suffixes whose next PUT is lost
    lost: list[str] = field(default_factory=list)  # paths whose answer was lost
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lose_next_put(self, suffix: str) -> None:
        with self._lock:
            self.armed.append(suffix)

    def _take(self, method: str, path: str) -> bool:
        with self._lock:
            for suffix in self.armed:
                if method == "PUT" and path.endswith(suffix):
                    self.armed.remove(suffix)
                    self.lost.append(path)
                    return True
        return False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        lose = self._take(request.method, request.path)
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as answer,
        ):
            payload = await answer.read()
            if lose:
                assert request.transport is not None
                request.transport.close()  # landed in moto; the answer never arrives
                return web.Response()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, headers=out, body=payload)


@pytest.fixture
def lossy_s3(moto_server: MotoServer) -> Iterator[LossyProxy]:
    proxy = LossyProxy(moto_server.endpoint_url)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: web.AppRunner | None = None

    async def start() -> None:
        nonlocal runner
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        proxy.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(START_TIMEOUT), "the S3 proxy did not start"
    try:
        yield proxy
    finally:
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()
