"""The systems under test as subprocesses on loopback: simplequeued, redis-server, moto."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.daemon import Daemon, start_daemon

REDIS_HINT = (
    "install them with 'sudo apt-get install redis-server redis-tools' (Debian/Ubuntu) "
    "or 'brew install redis' (macOS)"
)
# Dummy credentials so moto's S3 is reached with the standard AWS chain and nothing else.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


# Set by `--profile DIR`: every simplequeued run is sampled by py-spy into a flame graph.
profile_dir: Path | None = None
_profiles = itertools.count(1)


class ToolMissing(Exception):
    """A program a scenario needs is not installed; the message says how to get it."""


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} not found on PATH: {REDIS_HINT}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} did not listen on port {port} within {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def redis_server(data_dir: Path) -> Iterator[int]:
    """redis-server in its durable mode: AOF with fsync on every write; yields the port."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        find_tool("redis-server"),
        "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "no",
        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        "--dir", str(data_dir), "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        stop(proc)


@contextlib.contextmanager
def simplequeued(
    *flags: str, redis: bool = False, env: dict[str, str] | None = None, module: str = "broker"
) -> Iterator[Daemon]:
    """The broker daemon (`python -m broker`, or a launcher module that wraps it)."""
    daemon = start_daemon(*flags, redis=redis, env=env, module=module)
    spy = _profile(daemon.proc.pid) if profile_dir is not None else None
    try:
        yield daemon
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            spy.wait(60)
        with contextlib.suppress(AssertionError):
            daemon.stop(timeout=60)
        if daemon.proc.stderr is not None:
            daemon.proc.stderr.close()


def _profile(pid: int) -> subprocess.Popen[bytes]:
    assert profile_dir is not None
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise ToolMissing("py-spy not found: pip install py-spy (it is in the test extra)")
    profile_dir.mkdir(parents=True, exist_ok=True)
    out = profile_dir / f"simplequeued-{next(_profiles)}.svg"
    args = [spy, "record", "--pid", str(pid), "--output", str(out), "--rate", "200"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in its own process; yields its endpoint URL."""
    port = free_port()
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc/<pid>/status."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit_stats(daemon: Daemon) -> dict[str, float]:
    """Commits, mean mutations, bytes and time per commit, from the broker's /metrics."""
    status, text = daemon.request("GET", "/metrics")
    values: dict[str, float] = {}
    if status == 200 and isinstance(text, str):
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith(("sq_commit_batch_size_", "sq_commit_seconds_")) or name in (
                "sq_commit_bytes_total",
                "sq_checkpoints_total",
            ):
                values[name] = float(value)
    commits = values.get("sq_commit_batch_size_count", 0.0)
    if not commits:
        return {"commits": 0.0, "mean_batch": 0.0, "mean_commit_ms": 0.0, "bytes_per_commit": 0.0}
    return {
        "commits": commits,
        "checkpoints": values.get("sq_checkpoints_total", 0.0),
        "mean_batch": round(values.get("sq_commit_batch_size_sum", 0.0) / commits, 1),
        "mean_commit_ms": round(1000 * values.get("sq_commit_seconds_sum", 0.0) / commits, 1),
        "bytes_per_commit": round(values.get("sq_commit_bytes_total", 0.0) / commits),
    }
