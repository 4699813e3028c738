"""`work` abandoning a job while its program is still starting: the program, which may
already run before create_subprocess returns, is stopped too. (Left running, it held the
worker's stderr open, so a supervisor reading it waited as long as the program lived.)"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from common.models import Job, JobStatus, utc_now
from console.cli.work import CommandRunner
from tests.support.polling import DEADLINE


def job() -> Job:
    now = utc_now()
    return Job(id="j", status=JobStatus.CLAIMED, payload=1, created_at=now, available_at=now)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
async def test_cancelled_while_starting_stops_the_program(tmp_path: Path) -> None:
    started = tmp_path / "started"
    runner = CommandRunner([f"touch {started}; exec sleep 600"], "t", "w")
    original = runner._start
    gate = asyncio.Event()
    pids: list[int] = []

    async def slow_start(job: Job) -> asyncio.subprocess.Process:
        proc = await original(job)
        pids.append(proc.pid)
        await gate.wait()  # the program runs; its start has not returned yet
        return proc

    runner._start = slow_start  # type: ignore[method-assign]
    task = asyncio.ensure_future(runner(job()))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not started.exists():
        assert loop.time() < deadline, "the program never started"
        await asyncio.sleep(0.01)
    task.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pids and not alive(pids[0])
