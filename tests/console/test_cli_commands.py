"""The commands beyond the seed's: inspection, operator actions, table output, discovery
and `work`, against a daemon (the CLI in-process, or as a subprocess where it matters)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.cli import exits
from tests.support.cli import SIMPLEQUEUE, run_cli, run_cli_here


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def daemon(daemon_factory: Any, data_dir: Path) -> Any:
    return daemon_factory("--backend", "localfs", "--dir", str(data_dir), "--max-attempts", "2")


Sq = Callable[..., Any]


@pytest.fixture
def sq(daemon: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Sq:
    """Run one command in this process (fast) and return its JSON; the installed script
    is run as a subprocess where that matters (stdin, signals, `work`)."""
    for name in [name for name in os.environ if name.startswith("SQ_")]:
        monkeypatch.delenv(name)

    def run(*args: str, topic: str = "jobs") -> Any:
        result = run_cli_here(capsys, "-broker", daemon.http_url, "-topic", topic, *args)
        assert result.status == 0, result.stderr
        return result.json()

    return run


def test_inspection_and_operator_commands(sq: Sq, daemon: Any) -> None:
    for n in range(3):
        sq("enqueue", "--id", f"j{n}", f'{{"n": {n}}}')
    sq("enqueue", "--id", "later", "--delay", "3600", '"text"')

    claimed = sq("claim", "w1")
    assert claimed["id"] == "j0"
    assert sq("heartbeat", "j0")["last_heartbeat"]
    nacked = sq("nack", "j0", "--error", "broke", "--delay", "0")
    assert (nacked["status"], nacked["last_error"]) == ("pending", "broke")

    page = sq("jobs", "--limit", "2")
    assert [job["id"] for job in page["jobs"]] == ["j0", "j1"]
    rest = sq("jobs", "--after", page["next"])
    assert [job["id"] for job in rest["jobs"]] == ["j2", "later"]
    assert rest["next"] is None
    assert sq("show", "later")["payload"] == "text"

    assert sq("claim", "w1")["id"] == "j0"
    dead = sq("nack", "j0")  # second attempt of max 2
    assert dead["status"] == "dead"
    assert [job["id"] for job in sq("jobs", "--status", "dead")["jobs"]] == ["j0"]
    requeued = sq("requeue", "j0")
    assert (requeued["status"], requeued["attempts"]) == ("pending", 0)
    assert sq("delete", "j1")["id"] == "j1"

    status = sq("status")
    assert (status["pending"], status["delayed"], status["total"]) == (3, 1, 3)
    topics = sq("topics")["topics"]
    assert [(t["topic"], t["total"]) for t in topics] == [("jobs", 3)]
    assert sq("health")["status"] == "ok"


def test_enqueue_is_idempotent_by_id_and_reads_stdin(sq: Sq, daemon: Any) -> None:
    assert sq("enqueue", "--id", "x", "1") == {"id": "x", "created": True}
    assert sq("enqueue", "--id", "x", "2") == {"id": "x", "created": False}
    piped = run_cli("-broker", daemon.http_url, "enqueue", "--raw", "-", input="plain\n")
    assert piped.status == 0, piped.stderr
    assert sq("show", piped.json()["id"], topic="default")["payload"] == "plain\n"


def test_table_format_is_for_people(sq: Sq, daemon: Any) -> None:
    sq("enqueue", "--id", "t1", '{"item": "book"}')
    base = ["-broker", daemon.http_url, "-topic", "jobs", "--format", "table"]
    enqueued = run_cli(*base, "enqueue", "--id", "t2", "{}")
    assert enqueued.stdout == "enqueued: t2\n"
    listing = run_cli(*base, "jobs").stdout.splitlines()
    assert listing[0].split() == ["id", "status", "attempts", "claimed_by", "created_at", "payload"]
    assert listing[1].split()[:3] == ["t1", "pending", "0"]
    status = run_cli(*base, "status").stdout
    assert "pending" in status and "2" in status


def test_discover_finds_the_broker_through_broker_json(daemon: Any, data_dir: Path) -> None:
    result = run_cli(
        "--discover", "-dir", str(data_dir), "-topic", "d", "enqueue", "--id", "a", "1"
    )
    assert result.status == 0, result.stderr
    env = {"SQ_BACKEND": "localfs", "SQ_DIR": str(data_dir)}
    shown = run_cli("--discover", "-topic", "d", "show", "a", env=env)
    assert shown.status == 0, shown.stderr
    assert shown.json()["payload"] == 1


WORK_SCRIPT = (
    'if grep -q ok; then echo "done $SQ_JOB_ID"; else echo "boom $SQ_JOB_ID" >&2; exit 3; fi'
)


def test_work_acks_on_exit_0_and_nacks_with_stderr_otherwise(sq: Sq, daemon: Any) -> None:
    sq("enqueue", "--id", "good", '{"say": "ok"}')
    sq("enqueue", "--id", "bad", '{"say": "no"}')
    result = run_cli(
        "-broker", daemon.http_url, "-topic", "jobs", "work", "--max-jobs", "2", "--wait", "1",
        "--", WORK_SCRIPT,
    )  # fmt: skip
    assert result.status == 0, result.stderr
    lines = result.lines()
    assert [(line["id"], line["outcome"]) for line in lines] == [
        ("good", "acked"),
        ("bad", "nacked"),
    ]
    assert "done good" in result.stderr  # the command's stdout goes to stderr
    assert sq("show", "good")["status"] == "completed"
    bad = sq("show", "bad")
    assert bad["status"] == "pending"
    assert bad["last_error"] == "command exited with status 3: boom bad"


def test_work_runs_argv_directly_with_the_payload_bytes_on_stdin(
    sq: Sq, daemon: Any, tmp_path: Path
) -> None:
    sq("enqueue", "--id", "obj", '{"a": [1, 2]}')
    sq("enqueue", "--id", "txt", '"hello"')
    out = tmp_path / "seen"
    script = f"import sys; open({str(out)!r}, 'ab').write(sys.stdin.buffer.read() + b'|')"
    result = run_cli(
        "-broker", daemon.http_url, "-topic", "jobs", "work", "--max-jobs", "2", "--",
        "python3", "-c", script,
    )  # fmt: skip
    assert result.status == 0, result.stderr
    assert out.read_bytes() == b'{"a":[1,2]}|hello|'


def start_work(daemon: Any, command: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQ_")}
    return subprocess.Popen(
        [str(SIMPLEQUEUE), "-broker", daemon.http_url, "-topic", "jobs", "work", "--wait", "1",
         "--", command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def wait_for_file(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_work_finishes_the_current_job_on_sigterm(sq: Sq, daemon: Any, tmp_path: Path) -> None:
    sq("enqueue", "--id", "first", "1")
    sq("enqueue", "--id", "second", "2")
    started = tmp_path / "started"
    proc = start_work(daemon, f"touch {started}; sleep 1")
    wait_for_file(started)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert [orjson.loads(line)["outcome"] for line in out.splitlines()] == ["acked"]
    assert sq("show", "first")["status"] == "completed"
    assert sq("show", "second")["status"] == "pending"


def test_work_abandons_the_job_on_a_second_signal(sq: Sq, daemon: Any, tmp_path: Path) -> None:
    sq("enqueue", "--id", "long", "1")
    started = tmp_path / "started"
    proc = start_work(daemon, f"touch {started}; sleep 600")
    wait_for_file(started)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    job = sq("show", "long")
    assert (job["status"], job["last_error"]) == ("pending", "worker stopped")


def wait_until_working(proc: subprocess.Popen[str]) -> str:
    """Read `work`'s stderr up to the line it prints once its signal handlers exist
    (pytest's timeout bounds the wait if that line never comes)."""
    assert proc.stderr is not None
    seen = ""
    for line in proc.stderr:
        seen += line
        if "is waiting for jobs on topic jobs" in line:
            return seen
    raise AssertionError(f"work ended before it was ready:\n{seen}")


def test_work_stops_at_once_when_idle(daemon: Any) -> None:
    proc = start_work(daemon, "true")
    seen = wait_until_working(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, ""), seen + err


def test_discover_through_s3(daemon_factory: Any, moto_server: Any, s3_bucket: str) -> None:
    storage = [
        "--backend", "s3", "--bucket", s3_bucket, "--prefix", "q",
        "--s3-endpoint", moto_server.endpoint_url, "--region", "us-east-1",
    ]  # fmt: skip
    daemon = daemon_factory(*storage)
    result = run_cli("--discover", *storage, "-topic", "s3t", "enqueue", "--id", "a", '"x"')
    assert result.status == 0, result.stderr
    shown = run_cli("-broker", daemon.http_url, "-topic", "s3t", "show", "a")
    assert shown.json()["payload"] == "x"


def test_health_shows_readiness(
    daemon: Any, data_dir: Path, capsys: pytest.CaptureFixture[str], sq: Sq
) -> None:
    def health_table(status: int) -> list[str]:
        result = run_cli_here(capsys, "-broker", daemon.http_url, "--format", "table", "health")
        assert result.status == status, result.stderr
        return result.stdout.splitlines()

    assert health_table(exits.OK)[0] == "ready"
    assert sq("health")["ready"] is True
    (data_dir / "topics").rmdir()  # left empty by the broker's start-up write check
    (data_dir / "topics").write_text("a file where the topics directory belongs")
    result = run_cli_here(capsys, "-broker", daemon.http_url, "enqueue", "-topic", "x", "1")
    assert result.status != 0
    headline = health_table(exits.NOT_READY)[0]
    assert headline.startswith("NOT READY: the last storage request failed: topics/x.json")
    result = run_cli_here(capsys, "-broker", daemon.http_url, "health")
    assert result.status == exits.NOT_READY, result.stderr
    assert result.json()["reasons"] == [headline.removeprefix("NOT READY: ")]
