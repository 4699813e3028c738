"""The broker daemon as a real subprocess, for tests that speak HTTP (and RESP) to it.

`start_daemon(*flags)` runs `python -m broker --addr 127.0.0.1:0 ...` with PYTHONPATH at
the repo root, waits for the `listening http=http://H:P [redis=H:P]` log line and returns
a `Daemon`. The `daemon_factory` fixture is the same callable, and terminates every
daemon it started at teardown.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
_LISTENING = re.compile(r"listening http=(http://\S+?)(?:\s|$)(?:redis=\S+?:(\d+))?")
# Logged once HTTP answers, before the rest of start-up (redis_port is then None).
_STARTING = re.compile(r"starting http=(http://\S+?)(?:\s|$)()")


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    http_url: str
    redis_port: int | None
    log: list[str] = field(default_factory=list)  # stderr lines so far (a thread appends)

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        """One HTTP request; returns (status, parsed JSON body or text, or None if empty)."""
        body = (
            data if data is not None else (None if json is None else jsonlib.dumps(json).encode())
        )
        request = urllib.request.Request(self.http_url + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, _parse(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _parse(error.read())

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            message = f"daemon did not stop within {timeout}s:\n{self.log_text()}"
            raise AssertionError(message) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def log_text(self) -> str:
        return "\n".join(self.log)


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return jsonlib.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def start_daemon(
    *flags: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    redis: bool = False,
    module: str = "broker",
    preexec: Callable[[], None] | None = None,
    started: bool = True,
) -> Daemon:
    """Start `python -m broker` with `flags`; `--addr 127.0.0.1:0` unless given.

    `module` runs another entry point that ends in the daemon's main (the benchmarks'
    launcher, which wraps the store); `preexec` runs in the child before it starts (to
    set resource limits, say). `started=False` returns as soon as HTTP answers, while the
    daemon may still be starting."""
    args = [sys.executable, "-m", module]
    if not any(f == "--addr" or f.startswith("--addr=") for f in flags):
        args += ["--addr", "127.0.0.1:0"]
    if redis and not any(f.startswith("--redis-addr") for f in flags):
        args += ["--redis-addr", "127.0.0.1:0"]
    args += list(flags)
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )
    log: list[str] = []
    found: dict[str, tuple[str, int | None]] = {}
    ready = threading.Event()
    pattern = _LISTENING if started else _STARTING

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            log.append(line)
            match = pattern.search(line)
            if match and not ready.is_set():
                port = match.group(2)
                found["addr"] = (match.group(1), int(port) if port else None)
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=read, daemon=True).start()
    ready.wait(START_TIMEOUT)
    if "addr" not in found:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise AssertionError("daemon did not start:\n" + "\n".join(log))
    url, redis_port = found["addr"]
    return Daemon(proc=proc, http_url=url, redis_port=redis_port, log=log)


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def factory(*flags: str, **kwargs: Any) -> Daemon:
        daemon = start_daemon(*flags, **kwargs)
        started.append(daemon)
        return daemon

    yield factory
    for daemon in started:
        if daemon.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                daemon.stop()
        if daemon.proc.stderr is not None:
            daemon.proc.stderr.close()
