"""An aiohttp load generator: N concurrent clients repeat a cycle of timed requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson

T = TypeVar("T")


class RequestFailed(Exception):
    """A request in a cycle got an unexpected status; the run stops with it."""


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=dict)

    async def timed(self, name: str, request: Awaitable[T]) -> T:
        started = time.perf_counter()
        result = await request
        self.latencies.setdefault(name, []).append(time.perf_counter() - started)
        return result

    def count(self) -> int:
        return sum(len(samples) for samples in self.latencies.values())


@dataclass
class Http:
    session: aiohttp.ClientSession
    base_url: str

    async def post(self, path: str, body: Any, expect: tuple[int, ...] = (200, 201)) -> Any:
        async with self.session.post(
            self.base_url + path,
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        ) as response:
            data = await response.read()
            if response.status not in expect:
                raise RequestFailed(f"POST {path}: {response.status} {data[:200]!r}")
            return orjson.loads(data) if data else None


Cycle = Callable[[Http, int, Recorder], Coroutine[Any, Any, None]]


async def run_clients(
    base_url: str, clients: int, cycles: int, cycle: Cycle
) -> tuple[float, Recorder]:
    """Run `cycles` cycles spread over `clients` concurrent clients; (seconds, recorder)."""
    recorder = Recorder()
    left = cycles
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        http = Http(session, base_url)

        async def client(index: int) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await cycle(http, index, recorder)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        return time.perf_counter() - started, recorder


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (the load generator must not be the
    bottleneck on a small machine)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
