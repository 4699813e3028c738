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
import contextlib
import os
import signal
import socket
import sys

from common.client import Client
from common.models import Job
from common.payload import payload_to_bytes
from common.worker import JobFailed, Outcome, Worker
from console.cli.output import emit_line

_STDERR_TAIL = 1000


def _stderr_tail(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(line.strip() for line in lines[-5:] if line.strip())[-_STDERR_TAIL:]


class CommandRunner:
    """The handler: runs `argv` (through the shell if it is one string) for a job."""

    def __init__(self, argv: list[str], topic: str, worker_id: str) -> None:
        self.argv = argv
        self.topic = topic
        self.worker_id = worker_id

    async def __call__(self, job: Job) -> None:
        env = os.environ | {
            "SQ_JOB_ID": job.id,
            "SQ_TOPIC": self.topic,
            "SQ_ATTEMPTS": str(job.attempts),
            "SQ_WORKER_ID": self.worker_id,
        }
        streams = {
            "stdin": asyncio.subprocess.PIPE,
            "stdout": sys.stderr.fileno(),
            "stderr": asyncio.subprocess.PIPE,
            "env": env,
            # Its own process group, so that abandoning the job stops the whole tree.
            "start_new_session": True,
        }
        if len(self.argv) == 1:
            proc = await asyncio.create_subprocess_shell(self.argv[0], **streams)  # type: ignore[arg-type]
        else:
            proc = await asyncio.create_subprocess_exec(*self.argv, **streams)  # type: ignore[arg-type]
        try:
            _, err = await proc.communicate(payload_to_bytes(job.payload, job.payload_encoding))
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        sys.stderr.buffer.write(err)
        sys.stderr.flush()
        if proc.returncode != 0:
            tail = _stderr_tail(err)
            raise JobFailed(f"command exited with status {proc.returncode}: {tail}".rstrip(": "))


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
    try:
        await worker.run()
    except asyncio.CancelledError:
        if not signals:
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
