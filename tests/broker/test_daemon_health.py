"""Health that tells the truth, on a real daemon: /readyz says why the broker cannot serve
(starting, failed storage write or heartbeat), start-up refuses unwritable storage, and
the log warns once instead of dumping tracebacks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from common.keys import write_check_key
from common.models import BrokerRecord, BrokerState, dump_document, utc_now
from tests.broker.daemon_helpers import eventually
from tests.support.daemon import REPO_ROOT, Daemon

pytestmark = pytest.mark.slow  # every test here starts processes


def _reasons(daemon: Daemon) -> list[str] | None:
    """The not-ready reasons, or None while /readyz answers 200."""
    status, body = daemon.request("GET", "/readyz")
    assert status in (200, 503), body
    assert body["ready"] is (status == 200)
    return None if status == 200 else body["reasons"]


def test_healthz_answers_and_readyz_says_starting_until_the_broker_has_started(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """broker.json is a FIFO, so the registry's first read waits until the test writes
    the record: the broker is caught in the middle of starting."""
    fifo = tmp_path / "broker.json"
    os.mkfifo(fifo)
    d = daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path), "--heartbeat-period", "3600",
        redis=True, started=False,
    )  # fmt: skip
    status, health = d.request("GET", "/healthz")
    assert status == 200, health
    assert (health["state"], health["ready"]) == ("starting", False)
    reasons = _reasons(d)
    assert reasons is not None and reasons[0].startswith("starting:")
    other = BrokerRecord(
        generation=1,
        broker_id="other",
        http_addr="http://127.0.0.1:1",
        heartbeat=utc_now(),
        started_at=utc_now() - timedelta(seconds=5),
        version="test",
        state=BrokerState.ACTIVE,
    )
    # Non-blocking open: it fails instead of hanging while no reader has the FIFO open.
    writer = eventually(lambda: _open_writer(fifo))
    os.set_blocking(writer, True)
    os.write(writer, dump_document(other))
    os.close(writer)
    eventually(lambda: "listening http=" in d.log_text())
    assert _reasons(d) is None
    assert d.request("GET", "/healthz")[1]["state"] == "standby"


def _open_writer(fifo: Path) -> int | None:
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: the registry is not reading it yet
        return None


def test_readyz_reports_a_failed_storage_write_until_one_lands(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--heartbeat-period", "3600")
    assert _reasons(d) is None
    blocker = tmp_path / "topics"
    shutil.rmtree(blocker, ignore_errors=True)
    blocker.write_text("a file where the topics directory belongs")
    status, _ = d.request("POST", "/topics/t/enqueue", {"payload": 1})
    assert status == 503
    reasons = _reasons(d)
    assert reasons is not None and len(reasons) == 1
    assert reasons[0].startswith("the last storage request failed: topics/t.json")
    assert d.request("GET", "/healthz")[1]["ready"] is False

    blocker.unlink()
    assert d.request("POST", "/topics/t/enqueue", {"payload": 1})[0] == 201
    assert _reasons(d) is None


def test_a_landing_heartbeat_does_not_hide_failing_topic_writes(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--heartbeat-period", "0.2")
    blocker = tmp_path / "topics"
    shutil.rmtree(blocker, ignore_errors=True)
    blocker.write_text("a file where the topics directory belongs")
    assert d.request("POST", "/topics/t/enqueue", {"payload": 1})[0] == 503
    registry = tmp_path / "broker.json"
    seen = BrokerRecord.model_validate_json(registry.read_bytes()).generation
    eventually(  # two heartbeats landed after the failed topic write
        lambda: BrokerRecord.model_validate_json(registry.read_bytes()).generation >= seen + 2
    )
    reasons = _reasons(d)
    assert reasons is not None and reasons[0].startswith("the last storage request failed")


def test_readyz_reports_a_failed_registry_heartbeat(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--heartbeat-period", "0.2")
    record = tmp_path / "broker.json"
    record.unlink()
    record.mkdir()  # neither readable nor replaceable as a file
    reasons = eventually(lambda: _reasons(d))
    assert any(r.startswith("the last registry heartbeat failed") for r in reasons), reasons
    record.rmdir()
    eventually(lambda: _reasons(d) is None)


def _run_broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker", "--addr", "127.0.0.1:0", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("where", ["proc", "file"])
def test_unwritable_storage_exits_2_with_one_line(tmp_path: Path, where: str) -> None:
    """Tests run as root, so permissions cannot make a directory unwritable: /proc and a
    file in place of the directory can."""
    if where == "proc":
        directory = Path("/proc/simplequeue-test")
    else:
        directory = tmp_path / "data"
        directory.write_text("not a directory")
    result = _run_broker("--backend", "localfs", "--dir", str(directory))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"simplequeued: error: cannot write to storage localfs:{directory}")


def test_malformed_http_request_logs_one_warning_line(
    daemon_factory: Callable[..., Daemon],
) -> None:
    d = daemon_factory("--backend", "memfs")
    url = urlsplit(d.http_url)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.")
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00garbage-bytes\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.")
    eventually(lambda: d.log_text().count("malformed HTTP request") == 1)
    assert d.request("GET", "/healthz")[0] == 200
    assert "level=error" not in d.log_text()
    assert "traceback=" not in d.log_text()


def test_an_unreadable_body_is_a_400_and_one_warning_line(
    daemon_factory: Callable[..., Daemon],
) -> None:
    d = daemon_factory("--backend", "memfs")
    url = urlsplit(d.http_url)
    assert url.hostname is not None and url.port is not None
    head = "POST /topics/t/enqueue HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{}\r\n"
    body = b'{"payload": 1}'
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(head.format(len(body), "Content-Encoding: gzip\r\n").encode() + body)
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(head.format(len(body) + 10, "").encode() + body)  # then hangs up
    eventually(lambda: d.log_text().count("request body unreadable") == 2)
    assert d.request("GET", "/topics/t/status")[1]["total"] == 0
    assert "level=error" not in d.log_text()


def test_listening_beyond_loopback_without_a_token_warns(
    daemon_factory: Callable[..., Daemon],
) -> None:
    open_daemon = daemon_factory("--backend", "memfs", "--addr", "0.0.0.0:0")
    warning = "level=warning msg=no --auth-token and --addr 0.0.0.0:0 is not a loopback address"
    assert warning in open_daemon.log_text()
    guarded = daemon_factory("--backend", "memfs", "--addr", "0.0.0.0:0", "--auth-token", "t")
    local = daemon_factory("--backend", "memfs")
    assert "no --auth-token" not in guarded.log_text() + local.log_text()


def test_start_up_check_leaves_nothing_and_removes_a_killed_brokers_check(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    # A broker killed between writing and removing its check object leaves it behind;
    # the next broker to start removes it, and its own check leaves nothing.
    leftover = tmp_path / write_check_key("host-0123456789ab")
    leftover.parent.mkdir(parents=True)
    leftover.write_text("{}")
    daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    left = sorted(p.name for p in (tmp_path / "topics").iterdir())
    assert left == []
