"""`simplequeue work -- <command>`: run a program for each claimed job.

The job's payload goes to the program's stdin as the bytes a Redis client would get back
(JSON for objects and arrays, the text itself for strings). Exit status 0 acks the job;
anything else nacks it with the last lines of the program's stderr as the error. The
program's stdout and stderr are passed to our stderr, so that our stdout carries only one
JSON line per job.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from common.client import Client
from common.models import Job
from common.payload import payload_to_bytes
from common.worker import JobFailed, Outcome, Worker
from console.cli.output import emit_line

_TAIL_LINES = 5
_TAIL_CHARS = 1000


def _tail(lines: collections.deque[bytes]) -> str:
    text = [line.decode("utf-8", "replace").strip() for line in lines]
    return " | ".join(line for line in text if line)[-_TAIL_CHARS:]


class CommandRunner:
    """The handler: runs `argv` (through the shell if it is one string) for a job."""

    def __init__(self, argv: list[str], topic: str, worker_id: str) -> None:
        self.argv = argv
        self.topic = topic
        self.worker_id = worker_id

    async def _start(self, job: Job) -> asyncio.subprocess.Process:
        env = os.environ | {
            "SQ_JOB_ID": job.id,
            "SQ_TOPIC": self.topic,
            "SQ_ATTEMPTS": str(job.attempts),
            "SQ_WORKER_ID": self.worker_id,
        }
        start: Callable[..., Awaitable[asyncio.subprocess.Process]]
        if len(self.argv) == 1:
            start = functools.partial(asyncio.create_subprocess_shell, self.argv[0])
        else:
            start = functools.partial(asyncio.create_subprocess_exec, *self.argv)
        return await start(
            stdin=asyncio.subprocess.PIPE,
            stdout=sys.stderr.fileno(),
            stderr=asyncio.subprocess.PIPE,
            env=env,
            # Its own process group, so that abandoning the job stops the whole tree.
            start_new_session=True,
        )

    async def _started(self, job: Job) -> asyncio.subprocess.Process:
        """The running program. Cancelled while it starts, the start is still seen through
        and the program stopped: it may already run (and hold our stderr open, so that
        whoever reads it would wait for it) before create_subprocess returns."""
        starting = asyncio.ensure_future(self._start(job))
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await _stop(await starting)
            raise

    async def __call__(self, job: Job) -> None:
        proc = await self._started(job)
        assert proc.stdin is not None and proc.stderr is not None
        stdin, stderr = proc.stdin, proc.stderr
        tail: collections.deque[bytes] = collections.deque(maxlen=_TAIL_LINES)

        async def feed() -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                stdin.write(payload_to_bytes(job.payload, job.payload_encoding))
                await stdin.drain()
            stdin.close()

        async def relay_stderr() -> None:
            # Passed on as it comes, so that a long job's progress is visible.
            async for line in stderr:
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
                tail.append(line)

        try:
            await asyncio.gather(feed(), relay_stderr())
            status = await proc.wait()
        except asyncio.CancelledError:
            await _stop(proc)
            raise
        if status != 0:
            raise JobFailed(f"command exited with status {status}: {_tail(tail)}".rstrip(": "))


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill the program's whole process group (it runs in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


def _report(job: Job, outcome: Outcome, error: str | None) -> None:
    line: dict[str, object] = {"id": job.id, "outcome": outcome.value, "attempts": job.attempts}
    if error:
        line["error"] = error
    emit_line(line)


async def work(client: Client, args: argparse.Namespace) -> int:
    worker_id = args.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    runner = CommandRunner(args.argv, args.topic, worker_id)
    worker = Worker(
        client,
        args.topic,
        worker_id,
        runner,
        wait=args.wait,
        nack_delay=args.nack_delay,
        max_jobs=args.max_jobs,
        on_done=_report,
        burst=args.burst,
    )
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        # The first signal lets the current job finish; the second abandons it.
        nonlocal signals
        signals += 1
        worker.stop()
        if signals > 1 or not worker.busy:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    # Said once the handlers exist, so that a supervisor (or a test) knows a signal from now
    # on stops the worker cleanly rather than killing it.
    print(
        f"simplequeue: worker {worker_id} is waiting for jobs on topic {args.topic}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await worker.run()
    except asyncio.CancelledError:
        if not signals:
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
