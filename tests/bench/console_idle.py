"""Scenario 7: sq-console idling on a topic of 1,000 pending jobs, in a real terminal (a
pty) against a real broker: CPU seconds the console process spends per minute of wall time.

The jobs are enqueued over HTTP and the console is started on the broker's localfs
directory with all 1,000 rows in its table (the default row cap). Nothing changes after
that, so every redraw is the clock's doing. Two windows are measured, by the console's
user+system CPU time (/proc/<pid>/stat, every thread):
- young: while the jobs are under a minute old, when every row's age ticks each second;
- idle: once they are past a minute, when ages change once a minute (the steady state).
Goal: idle under 5% of a core (3 CPU seconds per minute)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from .plan import Plan
from .report import Row
from .systems import simplequeued

TOPIC = "bench-console"
JOBS = 1000
COLUMNS, LINES = 160, 50
GOAL_PERCENT = 5.0
SETTLE_S = 10.0
READY_TIMEOUT_S = 120.0


def cpu_seconds(pid: int) -> float:
    """User + system time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


class Terminal:
    """A pty of a fixed size whose output is drained (and searched) by a thread."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        size = struct.pack("HHHH", LINES, COLUMNS, 0, 0)
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, size)
        self.seen = bytearray()
        self.bytes_read = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.bytes_read += len(chunk)
                self.seen += chunk
                del self.seen[: max(0, len(self.seen) - 1_000_000)]

    def wait_for(self, text: bytes, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if text in self.seen:
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"sq-console exited with {proc.returncode}")
            time.sleep(0.1)
        raise RuntimeError(f"sq-console did not show {text!r} within {timeout:g}s")

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def measure(proc: subprocess.Popen[bytes], terminal: Terminal, seconds: float) -> dict[str, float]:
    cpu0, wall0, out0 = cpu_seconds(proc.pid), time.monotonic(), terminal.bytes_read
    time.sleep(seconds)
    cpu1, wall1, out1 = cpu_seconds(proc.pid), time.monotonic(), terminal.bytes_read
    wall = wall1 - wall0
    per_minute = (cpu1 - cpu0) / wall * 60
    return {
        "cpu_s_per_min": per_minute,
        "percent_of_core": per_minute / 60 * 100,
        "measured_s": wall,
        "terminal_kib_per_s": (out1 - out0) / wall / 1024,
    }


def run_scenario(plan: Plan) -> list[Row]:
    young_s, idle_s = plan.size(30, 15), plan.size(60, 20)
    root = plan.fresh_dir("sq-console-idle")
    with simplequeued("--backend", "localfs", "--dir", str(root)) as daemon:
        jobs = [{"id": f"job-{n:04}", "payload": {"n": n, "item": "book"}} for n in range(JOBS)]
        status, reply = daemon.request("POST", f"/topics/{TOPIC}/batch", json={"jobs": jobs})
        assert status == 201, reply
        enqueued = time.monotonic()
        terminal = Terminal()
        env = {**os.environ, "TERM": "xterm-256color"}
        args = [sys.executable, "-m", "console.app", "--dir", str(root)]
        proc = subprocess.Popen(
            args,
            stdin=terminal.slave,
            stdout=terminal.slave,
            stderr=terminal.slave,
            env=env,
            start_new_session=True,
        )
        try:
            terminal.wait_for(f"{JOBS:,} rows".encode(), proc, READY_TIMEOUT_S)
            time.sleep(SETTLE_S)  # a benchmark, not a test: let start-up work finish
            young = measure(
                proc, terminal, min(young_s, max(1.0, 55 - (time.monotonic() - enqueued)))
            )
            time.sleep(max(0.0, 62 - (time.monotonic() - enqueued)))  # every age past a minute
            idle = measure(proc, terminal, idle_s)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            terminal.close()
    name = f"7 console idle, {JOBS:,} rows, {COLUMNS}x{LINES} pty"
    return [
        Row(
            name,
            "sq-console localfs: CPU per minute, jobs under a minute old",
            note=_note(young),
            extra=young,
        ),
        Row(
            name,
            "sq-console localfs: CPU per minute idle",
            goal=f"< {GOAL_PERCENT:g}% of a core",
            met=idle["percent_of_core"] < GOAL_PERCENT,
            note=_note(idle),
            extra=idle,
        ),
    ]


def _note(figures: dict[str, float]) -> str:
    return (
        f"{figures['cpu_s_per_min']:.2f} CPU s/min ({figures['percent_of_core']:.1f}% of a "
        f"core) over {figures['measured_s']:.0f} s; terminal output "
        f"{figures['terminal_kib_per_s']:.1f} KiB/s"
    )
