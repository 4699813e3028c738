"""Every error path of the CLI: one line on stderr, nothing on stdout, the documented
exit status (README "Command-line client")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import SIMPLEQUEUE, CliResult, run_cli, run_cli_here

USAGE, NOTHING, NOT_FOUND, UNREACHABLE, CONFLICT, UNAUTHORIZED = 2, 3, 4, 5, 6, 7


def assert_fails(result: CliResult, status: int, text: str) -> None:
    assert result.status == status, (result.status, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("simplequeue")
    assert text in lines[0]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ([], "required: <command>"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["--no-such-flag", "status"], "unrecognized arguments: --no-such-flag"),
        (["enqueue"], "enqueue needs a payload (or --batch FILE)"),
        (["enqueue", "{not json"], "not valid JSON"),
        (["-topic", "a/b", "status"], "invalid topic name"),
        (["jobs", "--limit", "0"], "--limit: must be an integer from 1 to 1000, got '0'"),
        (["jobs", "--limit", "1001"], "--limit: must be an integer from 1 to 1000"),
        (["enqueue", "--delay", "1e15", "1"], "must be a number of seconds from 0 to 31536000"),
        (["enqueue", "--delay", "nan", "1"], "--delay: must be a number of seconds from 0 to"),
        (["enqueue", "--delay", "-1", "1"], "--delay: must be a number of seconds from 0 to"),
        (["enqueue", "--id", "x" * 257, "1"], "--id: must be 1 to 256 characters"),
        (["enqueue", "[123456789012345678901234]"], "does not fit in 64 bits"),
        (["nack", "j", "--delay", "inf"], "--delay: must be a number of seconds from 0 to"),
        (["claim", "w", "--wait", "301"], "--wait: must be a number of seconds from 0 to 300"),
        (["work", "--wait", "true", "--", "x"], "--wait: must be a number of seconds from 0"),
        (["ack", "x" * 257], "job-id: must be 1 to 256 characters"),
        (["jobs", "--status", "lost"], "invalid choice: 'lost'"),
        (["claim"], "required: worker-id"),
        (["--discover", "-broker", "http://x:1", "status"], "either --broker or --discover"),
        (["--discover", "--backend", "s3", "status"], "--bucket is required"),
        (["work"], "needs a command"),
        (["work", "--"], "needs a command"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], text: str
) -> None:
    for name in ("SQ_BACKEND", "SQ_DIR", "SQ_BUCKET", "SQ_BROKER", "SQ_TOPIC"):
        monkeypatch.delenv(name, raising=False)
    broker = [] if "--discover" in args else ["-broker", "http://127.0.0.1:9"]
    assert_fails(run_cli_here(capsys, *broker, *args), USAGE, text)


@pytest.mark.slow  # starts processes
def test_usage_error_from_the_installed_script() -> None:
    assert_fails(run_cli("enqueue", "{not json"), USAGE, "not valid JSON")


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        [],
        *[[c] for c in ("enqueue", "claim", "ack", "nack", "heartbeat", "status", "topics")],
        *[[c] for c in ("jobs", "show", "requeue", "delete", "work", "health")],
    ):
        result = run_cli_here(capsys, *command, "--help")
        assert result.status == 0, (command, result.stderr)
        assert "usage: simplequeue" in result.stdout
        assert "exit status" in result.stdout


@pytest.mark.slow  # starts processes
def test_unreachable_broker_exits_5() -> None:
    result = run_cli("-broker", "http://127.0.0.1:9", "--timeout", "2", "status")
    assert_fails(result, UNREACHABLE, "127.0.0.1:9 is unreachable")


@pytest.mark.slow  # starts processes
def test_discover_without_a_registry_exits_5(tmp_path: Path) -> None:
    result = run_cli("--discover", "--dir", str(tmp_path), "status")
    assert_fails(result, UNREACHABLE, "broker.json is missing")


@pytest.mark.slow  # starts processes
def test_discover_with_a_stale_registry_exits_5(tmp_path: Path) -> None:
    (tmp_path / "broker.json").write_text(
        '{"format":1,"generation":3,"broker_id":"gone","http_addr":"http://127.0.0.1:9",'
        '"heartbeat":"2020-01-01T00:00:00.000Z","started_at":"2020-01-01T00:00:00.000Z",'
        '"version":"0.1.0","state":"active"}'
    )
    result = run_cli("--discover", "-dir", str(tmp_path), "status")
    assert_fails(result, UNREACHABLE, "broker gone at http://127.0.0.1:9 last sent a heartbeat")


@pytest.fixture
def broker(daemon_factory: Any, tmp_path: Path) -> list[str]:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    return ["-broker", daemon.http_url, "-topic", "errs"]


def test_nothing_to_claim_exits_3(broker: list[str]) -> None:
    assert_fails(run_cli(*broker, "claim", "w1"), NOTHING, "nothing to claim")


def test_unknown_job_exits_4(broker: list[str]) -> None:
    assert run_cli(*broker, "enqueue", "--id", "other", "1").status == 0
    for command in ("show", "ack", "nack", "heartbeat", "requeue", "delete"):
        assert_fails(run_cli(*broker, command, "no-such-job"), NOT_FOUND, "no-such-job")


def test_conflicts_exit_6(broker: list[str]) -> None:
    assert run_cli(*broker, "enqueue", "--id", "p", "1").status == 0
    assert_fails(run_cli(*broker, "ack", "p"), CONFLICT, "p")  # pending, not claimed
    assert run_cli(*broker, "claim", "w1").status == 0
    assert_fails(run_cli(*broker, "delete", "p"), CONFLICT, "p")  # claimed jobs stay
    assert_fails(run_cli(*broker, "ack", "p", "--worker-id", "w2"), CONFLICT, "p")


def test_missing_or_wrong_token_exits_7(daemon_factory: Any, tmp_path: Path) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--auth-token", "s3")
    broker = ["-broker", daemon.http_url]
    assert_fails(run_cli(*broker, "status"), UNAUTHORIZED, "")
    assert_fails(run_cli(*broker, "--token", "wrong", "status"), UNAUTHORIZED, "")
    assert run_cli(*broker, "--token", "s3", "status").status == 0
    assert run_cli(*broker, "status", env={"SQ_AUTH_TOKEN": "s3"}).status == 0


@pytest.mark.slow
def test_ctrl_c_during_a_long_poll_exits_130_at_once() -> None:
    """A one-request command waits in http.client; SIGINT must still end it right away."""
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts, never answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SQ_")}
        argv = [str(SIMPLEQUEUE), "--broker", url, "--timeout", "300"]
        argv += ["claim", "w", "--wait", "300"]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean
        )
        conn, _ = server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:  # the whole request is sent: it now waits
                chunk = conn.recv(65536)
                assert chunk, "the CLI closed the connection before sending its request"
                request += chunk
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)  # far below the 300 s it would wait
    assert (proc.returncode, out, err) == (130, "", "simplequeue: error: interrupted\n")
