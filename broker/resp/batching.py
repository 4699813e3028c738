"""Merge the engine calls of one pipeline run into as few mutations as possible.

The connection starts the commands of a run (consecutive pushes, or consecutive pops) at
once; each hands its work to the batcher, which waits until the event loop has started
every command of the run and then makes one `enqueue_many` (pushes) or one `pop` (pops)
call per topic, in request order. The group committer turns those into one write, so a
pipeline of 100 LPUSHes (or RPOPs) costs one commit, not 100, while every command still
gets its own reply.

`start_enqueue` and `start_pop` join a batch without a task per command: they return a
future that the batch resolves with the command's reply (`finish` applied to its result,
or the error reply for what the batch raised), which is all LPUSH and RPOP need.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from broker.errors import BrokerError, StorageUnavailable
from common.limits import CLAIM_COUNT

from .commands.execute import error_reply

if TYPE_CHECKING:
    from broker.engine import EnqueueResult, NewJob, Topic

MAX_POP = int(CLAIM_COUNT.high)  # the engine's cap on one pop's count
W = TypeVar("W")  # what one command asks for
R = TypeVar("R")  # what it gets back


@dataclass(slots=True)
class _Entry(Generic[W, R]):
    work: W
    future: asyncio.Future[Any]
    # The reply from the result; errors then resolve the future with their error reply.
    # None: the future gets the result, or the exception.
    finish: Callable[[R], Any] | None = None


@dataclass
class _Batch(Generic[W, R]):
    topic: Topic
    entries: list[_Entry[W, R]] = field(default_factory=list)


PushResult = tuple["list[EnqueueResult]", int]
_PushBatch = _Batch["list[NewJob]", PushResult]


class PipelineBatcher:
    def __init__(self) -> None:
        self._pushes: dict[str, _PushBatch] = {}
        self._pops: dict[str, _Batch[int, list[bytes]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the connection's

    async def enqueue(self, topic: Topic, jobs: list[NewJob]) -> PushResult:
        """Enqueue `jobs` in order; returns their results and the topic's pending length
        right after them (as the sequence of pushes would have left it)."""
        result: PushResult = await self._join(self._pushes, topic, jobs, None)
        return result

    def start_enqueue(
        self, topic: Topic, jobs: list[NewJob], finish: Callable[[PushResult], Any]
    ) -> asyncio.Future[Any]:
        """`enqueue`, as the future of the reply `finish` makes of its result."""
        return self._join(self._pushes, topic, jobs, finish)

    def start_pop(
        self, topic: Topic, count: int, finish: Callable[[list[bytes]], Any]
    ) -> asyncio.Future[Any]:
        """Pop up to `count` jobs (their payloads as RESP values); pops of one run are
        served in request order. The future of the reply `finish` makes of them."""
        return self._join(self._pops, topic, count, finish)

    def _join(
        self,
        batches: dict[str, _Batch[W, R]],
        topic: Topic,
        work: W,
        finish: Callable[[R], Any] | None,
    ) -> asyncio.Future[Any]:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if not self._scheduled:
            # call_soon runs after every task already scheduled in this loop step, so all
            # the commands of one run have joined before the flush.
            self._scheduled = True
            loop.call_soon(self._flush)
        batch = batches.get(topic.name)
        if batch is None:
            batch = batches[topic.name] = _Batch(topic)
        entry: _Entry[W, R] = _Entry(work, loop.create_future(), finish)
        batch.entries.append(entry)
        return entry.future

    def _flush(self) -> None:
        self._scheduled = False
        pushes, self._pushes = self._pushes, {}
        pops, self._pops = self._pops, {}
        for push in pushes.values():
            self._spawn(self._run_pushes, push)
        for pop in pops.values():
            for chunk in _chunks(pop):
                self._spawn(self._run_pops, chunk)

    def _spawn(self, run: Callable[[Any], Coroutine[Any, Any, None]], batch: Any) -> None:
        task = asyncio.get_running_loop().create_task(run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_pushes(self, batch: _PushBatch) -> None:
        jobs = [job for entry in batch.entries for job in entry.work]
        try:
            results = await batch.topic.enqueue_many(jobs)
        except BrokerError as exc:
            if len(batch.entries) > 1 and not isinstance(exc, StorageUnavailable):
                # One command's bad job must not fail its neighbours: retry each alone.
                for entry in batch.entries:
                    await self._run_pushes(_Batch(batch.topic, [entry]))
                return
            _fail(batch, exc)
            return
        except Exception as exc:
            _fail(batch, exc)
            return
        pending = batch.topic.pending_count()
        # Walk back from the end: each entry's length excludes what later entries added.
        end = len(results)
        for entry in reversed(batch.entries):
            mine = results[end - len(entry.work) : end]
            end -= len(entry.work)
            _resolve(entry, (mine, pending))
            pending -= sum(1 for result in mine if result.created)

    async def _run_pops(self, batch: _Batch[int, list[bytes]]) -> None:
        try:
            count = sum(entry.work for entry in batch.entries)
            jobs = await batch.topic.pop_values(count=count)
        except Exception as exc:
            _fail(batch, exc)
            return
        for entry in batch.entries:
            _resolve(entry, jobs[: entry.work])
            jobs = jobs[entry.work :]


def _chunks(batch: _Batch[int, list[bytes]]) -> list[_Batch[int, list[bytes]]]:
    """Split pops so that no single engine pop asks for more than MAX_POP jobs."""
    chunks: list[_Batch[int, list[bytes]]] = [_Batch(batch.topic)]
    total = 0
    for entry in batch.entries:
        if total + entry.work > MAX_POP and chunks[-1].entries:
            chunks.append(_Batch(batch.topic))
            total = 0
        chunks[-1].entries.append(entry)
        total += entry.work
    return chunks


def _resolve(entry: _Entry[W, R], result: R) -> None:
    if entry.future.done():
        return
    if entry.finish is None:
        entry.future.set_result(result)
        return
    try:
        reply = entry.finish(result)
    except Exception as exc:
        reply = error_reply(exc)
    entry.future.set_result(reply)


def _fail(batch: _Batch[Any, Any], exc: Exception) -> None:
    for entry in batch.entries:
        if entry.future.done():
            continue
        if entry.finish is None:
            entry.future.set_exception(exc)
        else:
            entry.future.set_result(error_reply(exc))
