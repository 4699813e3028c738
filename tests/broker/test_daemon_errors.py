"""Bad input, auth and flags against the daemon: documented status and code, no change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import REPO_ROOT, Daemon

pytestmark = pytest.mark.slow  # every test here starts processes

BAD_REQUESTS: list[tuple[str, str, Any, bytes | None, int, str]] = [
    # method, path, json, raw body, status, code
    ("POST", "/topics/t/enqueue", None, b"{not json", 400, "bad_request"),
    ("POST", "/topics/t/enqueue", None, b"[1, 2]", 400, "bad_request"),
    ("POST", "/topics/t/enqueue", {"id": "x"}, None, 400, "bad_request"),
    ("POST", "/topics/t/enqueue", {"payload": 1, "id": 5}, None, 400, "bad_request"),
    ("POST", "/topics/t/enqueue", {"payload": 1, "delay_seconds": -1}, None, 400, "bad_request"),
    ("POST", "/topics/t/enqueue", {"payload": "x" * 2000}, None, 413, "payload_too_large"),
    ("POST", "/topics/t/batch", {"jobs": []}, None, 400, "bad_request"),
    ("POST", "/topics/t/batch", {"jobs": [{"payload": 1}, {}]}, None, 400, "bad_request"),
    ("POST", "/topics/bad.name/enqueue", {"payload": 1}, None, 400, "invalid_topic"),
    ("POST", "/topics/%2E%2E%2Fetc/enqueue", {"payload": 1}, None, 400, "invalid_topic"),
    ("GET", "/topics/bad.name/status", None, None, 400, "invalid_topic"),
    ("POST", "/topics/t/claim", {}, None, 400, "bad_request"),
    ("POST", "/topics/t/claim", {"worker_id": "w", "count": 0}, None, 400, "bad_request"),
    ("POST", "/topics/t/claim", {"worker_id": "w", "wait_seconds": "x"}, None, 400, "bad_request"),
    ("POST", "/topics/t/ack", {}, None, 400, "bad_request"),
    ("POST", "/topics/t/ack", {"job_id": "nope"}, None, 404, "job_not_found"),
    ("POST", "/topics/t/nack", {"job_id": "nope"}, None, 404, "job_not_found"),
    ("POST", "/topics/t/heartbeat", {"job_id": "nope"}, None, 404, "job_not_found"),
    ("GET", "/topics/t/jobs/nope", None, None, 404, "job_not_found"),
    ("DELETE", "/topics/t/jobs/nope", None, None, 404, "job_not_found"),
    ("POST", "/topics/t/jobs/nope/requeue", None, None, 404, "job_not_found"),
    ("GET", "/topics/t/jobs?status=weird", None, None, 400, "bad_request"),
    ("GET", "/topics/t/jobs?limit=0", None, None, 400, "bad_request"),
    ("POST", "/topics/t/ack", {"job_id": "done"}, None, 409, "wrong_state"),  # ack twice
    ("POST", "/topics/t/heartbeat", {"job_id": "done"}, None, 409, "wrong_state"),
    ("GET", "/no/such/route", None, None, 404, "not_found"),
]


@pytest.fixture(scope="module")
def small_daemon(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support.daemon import start_daemon

    data = tmp_path_factory.mktemp("errors")
    daemon = start_daemon("--dir", str(data), "--max-payload-bytes", "1000")
    daemon.request("POST", "/topics/t/enqueue", {"id": "done", "payload": 1})
    daemon.request("POST", "/topics/t/claim", {"worker_id": "w"})
    assert daemon.request("POST", "/topics/t/ack", {"job_id": "done"})[0] == 200
    yield daemon, data
    daemon.stop()
    assert daemon.proc.stderr is not None
    daemon.proc.stderr.close()


@pytest.mark.parametrize(("method", "path", "json", "raw", "status", "code"), BAD_REQUESTS)
def test_bad_request_gets_documented_error_and_changes_nothing(
    small_daemon: tuple[Daemon, Path],
    method: str,
    path: str,
    json: Any,
    raw: bytes | None,
    status: int,
    code: str,
) -> None:
    daemon, data = small_daemon
    before = {p: p.read_bytes() for p in (data / "topics").rglob("*") if p.is_file()}
    got_status, body = daemon.request(method, path, json, data=raw)
    assert (got_status, body["code"]) == (status, code), body
    assert isinstance(body["error"], str) and body["error"]
    after = {p: p.read_bytes() for p in (data / "topics").rglob("*") if p.is_file()}
    assert after == before  # nothing written, no topic created for a bad topic name


def test_storage_failure_is_503_with_retry_after(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path))
    d.request("POST", "/topics/t/enqueue", {"payload": 1})
    shutil.rmtree(tmp_path / "topics")  # the directory is gone, and a file is in its way:
    (tmp_path / "topics").write_text("")  # no write can land (even as root)
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        d.http_url + "/topics/t/enqueue", data=b'{"payload": 3}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 503 and info.value.headers["Retry-After"]
    assert b"storage_unavailable" in info.value.read()


def test_a_damaged_store_is_a_storage_error_never_an_empty_topic(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    # A file where the topics directory belongs: the stored job is still there (moved
    # away), so "no such job", "empty" or an empty topic list would be wrong answers.
    # (Reads may be served from the last copy read, as reads may lag.)
    d = daemon_factory("--dir", str(tmp_path))
    status, body = d.request("POST", "/topics/t/enqueue", {"payload": 1, "id": "j1"})
    assert status == 201, body
    (tmp_path / "topics").rename(tmp_path / "topics-away")
    (tmp_path / "topics").write_text("")
    status, body = d.request("POST", "/topics/t/enqueue", {"payload": 2})  # fails, reloads
    assert (status, body["code"]) == (503, "storage_unavailable"), body
    status, body = d.request("GET", "/topics/t/jobs/j1")  # a read: may be the last copy
    assert status == 503 or body["job"]["status"] == "pending", body
    for method, path, payload in [
        ("POST", "/topics/t/ack", {"job_id": "j1"}),
        ("POST", "/topics/t/claim", {"worker_id": "w"}),
        ("GET", "/topics", None),
    ]:
        status, body = d.request(method, path, payload)
        assert (status, body["code"]) == (503, "storage_unavailable"), (path, body)
    (tmp_path / "topics").unlink()
    (tmp_path / "topics-away").rename(tmp_path / "topics")
    status, body = d.request("GET", "/topics/t/jobs/j1")
    assert (status, body["job"]["status"]) == (200, "pending"), body


def test_auth_token_guards_everything_but_healthz(
    daemon_factory: Callable[..., Daemon],
) -> None:
    d = daemon_factory("-backend", "memfs", env={"SQ_AUTH_TOKEN": "s3cret"})
    status, body = d.request("POST", "/topics/t/enqueue", {"payload": 1})
    assert (status, body["code"]) == (401, "unauthorized")
    wrong = {"Authorization": "Bearer nope"}
    assert d.request("GET", "/topics", headers=wrong)[0] == 401
    assert d.request("GET", "/metrics")[0] == 401
    assert d.request("GET", "/healthz")[0] == 200
    good = {"Authorization": "Bearer s3cret"}
    assert d.request("POST", "/topics/t/enqueue", {"payload": 1}, headers=good)[0] == 201
    # The scheme is case-insensitive (RFC 7235); the token is not.
    for header in ("bearer s3cret", "BEARER s3cret", "bEaReR  s3cret"):
        lower = {"Authorization": header}
        assert d.request("POST", "/topics/t/enqueue", {"payload": 1}, headers=lower)[0] == 201
    for header in ("Bearer S3CRET", "Basic s3cret", "Bearers3cret", "s3cret", "Bearer"):
        assert d.request("GET", "/topics", headers={"Authorization": header})[0] == 401


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_explains_every_flag() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for flag in (
        "--addr", "--redis-addr", "--broker-id", "--backend", "--dir", "--bucket",
        "--advertise-addr", "--visibility-timeout", "--max-attempts", "--auth-token",
        "--log-level", "--reaper-period", "--heartbeat-period", "--takeover-timeout",
    ):  # fmt: skip
        assert flag in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--visibility-timeout", "soon"],
        ["--addr", "nowhere"],
        ["--max-attempts", "-1"],
        # Out of the ranges of common.limits: a year, a million attempts; no inf or nan.
        ["--visibility-timeout", "1e15"],
        ["--visibility-timeout", "inf"],
        ["--visibility-timeout", "nan"],
        ["--max-attempts", "10000000"],
        # 1e-300 used to spin the commit loop without ever yielding.
        ["--reaper-period", "1e-300"],
        ["--reaper-period", "0"],
        ["--reaper-period", "3601"],
        ["--heartbeat-period", "0.001"],
        ["--heartbeat-period", "1e9"],
        ["--takeover-timeout", "0"],
        ["--takeover-timeout", "1e9"],
        ["--takeover-timeout", "inf"],
        ["--max-payload-bytes", "0"],
        ["--max-payload-bytes", "100000000000"],
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str]) -> None:
    result = _run("-backend", "memfs", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("simplequeued: error:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_sigterm_exits_0_and_marks_the_registry_stopping(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path))
    assert d.request("GET", "/openapi.json")[1]["openapi"].startswith("3.")
    assert d.stop() == 0
    assert '"state":"stopping"' in (tmp_path / "broker.json").read_text()
