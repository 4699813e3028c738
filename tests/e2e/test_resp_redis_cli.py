"""The real redis-cli and redis-benchmark binaries against `simplequeued --redis-addr`."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import subprocess
import time

from tests.support.daemon import Daemon
from tests.support.resp import metric

CLI_TIMEOUT = 60


def cli(daemon: Daemon, *args: str) -> str:
    """Run redis-cli once (non-interactive, raw output) and return its stdout."""
    result = subprocess.run(
        ["redis-cli", "-p", str(daemon.redis_port), *args],
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=True,
    )
    return result.stdout.decode()


def test_seed_readme_redis_cli_section(resp_daemon: Daemon) -> None:
    # The README of the original system, command by command, with its documented results.
    assert cli(resp_daemon, "LPUSH", "orders", '{"item":"book"}') == "1\n"
    assert cli(resp_daemon, "RPUSH", "orders", '{"item":"pen"}', '{"item":"notebook"}') == "3\n"
    assert cli(resp_daemon, "LLEN", "orders") == "3\n"
    assert cli(resp_daemon, "RPOP", "orders") == '{"item":"book"}\n'
    added = cli(resp_daemon, "XADD", "events", "*", "action", "click", "user", "alice").strip()
    assert re.fullmatch(r"\d+-\d+", added)
    read = cli(
        resp_daemon,
        "XREADGROUP",
        "GROUP",
        "default",
        "worker1",
        "COUNT",
        "1",
        "STREAMS",
        "events",
        ">",
    )
    assert read.split("\n") == ["events", added, "action", "click", "user", "alice", ""]
    assert cli(resp_daemon, "XACK", "events", "default", added) == "1\n"
    # Lists and streams are the same jobs the HTTP API sees, in a readable document.
    status, body = resp_daemon.request("GET", "/topics/orders/status")
    assert status == 200 and body["pending"] == 2 and body["completed"] == 1
    status, body = resp_daemon.request("GET", f"/topics/events/jobs/{added}")
    assert status == 200
    assert body["job"]["status"] == "completed"
    assert body["job"]["payload"] == {"action": "click", "user": "alice"}


def test_seed_supported_commands_table(resp_daemon: Daemon) -> None:
    assert cli(resp_daemon, "PING") == "PONG\n"
    assert cli(resp_daemon, "LPUSH", "table", "a", "b") == "2\n"
    assert cli(resp_daemon, "LPOP", "table") == "a\n"
    assert cli(resp_daemon, "XLEN", "table") == "2\n"  # total jobs, the popped one included
    info = cli(resp_daemon, "XINFO", "STREAM", "table").split("\n")
    fields = dict(zip(info[0:-1:2], info[1::2], strict=False))
    assert fields["length"] == "2" and fields["pending"] == "1" and fields["completed"] == "1"
    assert cli(resp_daemon, "QUIT") == "OK\n"


def test_errors_print_redis_wording(resp_daemon: Daemon) -> None:
    # (redis-cli prints an error followed by an empty line)
    assert cli(resp_daemon, "GET", "x") == (
        "ERR unknown command 'GET', with args beginning with: 'x' \n\n"
    )
    assert cli(resp_daemon, "LPUSH", "q") == (
        "ERR wrong number of arguments for 'lpush' command\n\n"
    )
    assert cli(resp_daemon, "LPUSH", "bad/name", "x").startswith("ERR invalid topic name")


def test_info_and_keyspace(resp_daemon: Daemon) -> None:
    cli(resp_daemon, "LPUSH", "ks-one", "x")
    info = cli(resp_daemon, "INFO")
    assert "redis_version:" in info and "loading:0" in info and "loading:1" not in info
    assert "ks-one" in cli(resp_daemon, "KEYS", "ks-*")
    assert cli(resp_daemon, "EXISTS", "ks-one", "ks-none") == "1\n"
    assert cli(resp_daemon, "TYPE", "ks-one") == "list\n"
    assert "ks-one" in cli(resp_daemon, "--scan", "--pattern", "ks-*")


class Terminal:
    """redis-cli in interactive mode on a pseudo-terminal (answering its cursor queries)."""

    def __init__(self, port: int) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.execvp("redis-cli", ["redis-cli", "-p", str(port)])
        self.output = b""

    def read_until(self, text: bytes, timeout: float = 20.0) -> bytes:
        """Screen text once `text` appeared, and the terminal then went quiet (so the next
        keystrokes are not taken as the answer to a cursor query)."""
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            if quiet_until is None and text in self.screen():
                quiet_until = time.monotonic() + 0.3
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    break
                self.output += chunk
                if quiet_until is not None:
                    quiet_until = time.monotonic() + 0.3
                # linenoise asks where the cursor is; a terminal answers.
                for _ in range(chunk.count(b"\x1b[6n")):
                    os.write(self.fd, b"\x1b[1;1R")
        return self.screen()

    def screen(self) -> bytes:
        """The output without terminal escape sequences (colours, cursor moves)."""
        return re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", self.output)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_interactive_redis_cli_with_command_docs(resp_daemon: Daemon) -> None:
    # Interactive redis-cli sends COMMAND DOCS at start for its hints and `help`.
    terminal = Terminal(resp_daemon.redis_port or 0)
    try:
        terminal.read_until(b"> ")
        terminal.type("LPUSH interactive x")
        assert b"(integer) 1" in terminal.read_until(b"(integer) 1")
        terminal.type("help XADD")
        assert b"summary: Enqueue a job" in terminal.read_until(b"group: stream")
        terminal.type("PING")
        screen = terminal.read_until(b"PONG")
        assert b"PONG" in screen and b"(error)" not in screen
    finally:
        terminal.close()


def test_redis_benchmark_runs_without_errors(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("--backend", "memfs", redis=True)
    result = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(daemon.redis_port),
            "-t",
            "lpush,rpop,ping",
            "-n",
            "20000",
            "-c",
            "20",
            "-P",
            "16",
            "-q",
        ],
        capture_output=True,
        timeout=600,
        check=True,
    )
    output = result.stdout.decode().replace("\r", "\n")
    summary = [line for line in output.splitlines() if "requests per second" in line]
    assert [line.split(":")[0] for line in summary] == [
        "PING_INLINE",
        "PING_MBULK",
        "LPUSH",
        "RPOP",
    ]
    assert "error" not in output.lower()
    # Every pushed job was popped again: the commands did what they said.
    assert metric(daemon, "sq_commits_total") > 0
    status, body = daemon.request("GET", "/topics/mylist/status")
    assert status == 200 and body["counters"]["enqueued"] == 20000
    assert body["counters"]["completed"] == 20000


def test_redis_cli_in_resp3_mode(resp_daemon: Daemon) -> None:
    # `redis-cli -3` starts with HELLO 3 and then reads maps, nulls and verbatim strings.
    assert cli(resp_daemon, "-3", "RPUSH", "resp3", "a") == "1\n"
    assert cli(resp_daemon, "-3", "RPOP", "resp3") == "a\n"
    assert cli(resp_daemon, "-3", "RPOP", "resp3") == "\n"  # null
    assert "redis_version:" in cli(resp_daemon, "-3", "INFO", "server")
    assert "proto 3\n" in cli(resp_daemon, "-3", "HELLO", "3")  # a map prints "key value"
