"""Merge the engine calls of one pipeline run into as few mutations as possible.

The connection starts the commands of a run (consecutive pushes, or consecutive pops) at
once; each hands its work to the batcher, which waits until the event loop has started
every command of the run and then makes one `enqueue_many` (pushes) or one `pop` (pops)
call per topic, in request order. The group committer turns those into one write, so a
pipeline of 100 LPUSHes (or RPOPs) costs one commit, not 100, while every command still
gets its own reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from broker.errors import BrokerError, StorageUnavailable
from common.limits import CLAIM_COUNT

if TYPE_CHECKING:
    from broker.engine import EnqueueResult, NewJob, Topic
    from common.models import Job

MAX_POP = int(CLAIM_COUNT.high)  # the engine's cap on one pop's count
W = TypeVar("W")  # what one command asks for
R = TypeVar("R")  # what it gets back


@dataclass
class _Entry(Generic[W, R]):
    work: W
    future: asyncio.Future[R]


@dataclass
class _Batch(Generic[W, R]):
    topic: Topic
    entries: list[_Entry[W, R]] = field(default_factory=list)


_PushBatch = _Batch["list[NewJob]", "tuple[list[EnqueueResult], int]"]


class PipelineBatcher:
    def __init__(self) -> None:
        self._pushes: dict[str, _PushBatch] = {}
        self._pops: dict[str, _Batch[int, list[Job]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, topic: Topic, jobs: list[NewJob]) -> tuple[list[EnqueueResult], int]:
        """Enqueue `jobs` in order; returns their results and the topic's pending length
        right after them (as the sequence of pushes would have left it)."""
        return await self._join(self._pushes, topic, jobs)

    async def pop(self, topic: Topic, count: int) -> list[Job]:
        """Pop up to `count` jobs; pops of one run are served in request order."""
        return await self._join(self._pops, topic, count)

    async def _join(self, batches: dict[str, _Batch[W, R]], topic: Topic, work: W) -> R:
        loop = asyncio.get_running_loop()
        if not self._scheduled:
            # call_soon runs after every task already scheduled in this loop step, so all
            # the commands of one run have joined before the flush.
            self._scheduled = True
            loop.call_soon(self._flush)
        batch = batches.setdefault(topic.name, _Batch(topic))
        entry: _Entry[W, R] = _Entry(work, loop.create_future())
        batch.entries.append(entry)
        return await entry.future

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

    async def _run_pushes(
        self, batch: _Batch[list[NewJob], tuple[list[EnqueueResult], int]]
    ) -> None:
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

    async def _run_pops(self, batch: _Batch[int, list[Job]]) -> None:
        try:
            jobs = await batch.topic.pop(count=sum(entry.work for entry in batch.entries))
        except Exception as exc:
            _fail(batch, exc)
            return
        for entry in batch.entries:
            _resolve(entry, jobs[: entry.work])
            jobs = jobs[entry.work :]


def _chunks(batch: _Batch[int, list[Job]]) -> list[_Batch[int, list[Job]]]:
    """Split pops so that no single engine pop asks for more than MAX_POP jobs."""
    chunks: list[_Batch[int, list[Job]]] = [_Batch(batch.topic)]
    total = 0
    for entry in batch.entries:
        if total + entry.work > MAX_POP and chunks[-1].entries:
            chunks.append(_Batch(batch.topic))
            total = 0
        chunks[-1].entries.append(entry)
        total += entry.work
    return chunks


def _resolve(entry: _Entry[W, R], result: R) -> None:
    if not entry.future.done():
        entry.future.set_result(result)


def _fail(batch: _Batch[Any, Any], exc: Exception) -> None:
    for entry in batch.entries:
        if not entry.future.done():
            entry.future.set_exception(exc)
