"""The CLI in pipelines, against a daemon: `enqueue --batch`, `--format jsonl`,
`work --burst` and `status --watch`."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.cli import exits
from tests.support.cli import SIMPLEQUEUE, run_cli
from tests.support.polling import DEADLINE


@pytest.fixture
def daemon(daemon_factory: Any, tmp_path: Path) -> Any:
    return daemon_factory("--backend", "localfs", "--dir", str(tmp_path / "data"))


def sq(daemon: Any, *args: str, topic: str = "pipe", stdin: str | None = None) -> Any:
    return run_cli("-broker", daemon.http_url, "-topic", topic, *args, input=stdin)


def status(daemon: Any, topic: str = "pipe") -> dict[str, Any]:
    code, body = daemon.request("GET", f"/topics/{topic}/status")
    assert code == 200, body
    result: dict[str, Any] = body
    return result


def job(daemon: Any, job_id: str) -> dict[str, Any]:
    code, body = daemon.request("GET", f"/topics/pipe/jobs/{job_id}")
    assert code == 200, body
    found: dict[str, Any] = body["job"]
    return found


def test_batch_from_stdin_sends_a_thousand_lines_per_commit(daemon: Any) -> None:
    lines = "".join(f'{{"n": {n}}}\n' for n in range(2500)) + "\n"  # a blank line is skipped
    before = status(daemon)["generation"]
    result = sq(daemon, "enqueue", "--batch", "-", stdin=lines)
    assert result.status == 0, result.stderr
    out = result.json()
    assert out["enqueued"] == 2500 and len(set(out["ids"])) == 2500
    after = status(daemon)
    assert after["pending"] == 2500
    assert after["generation"] - before == 3  # 1000 + 1000 + 500: one commit each
    assert job(daemon, out["ids"][-1])["payload"] == {"n": 2499}


def test_batch_from_a_file_with_raw_lines_and_a_delay(daemon: Any, tmp_path: Path) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("first line\nsecond line\n")
    result = sq(
        daemon, "enqueue", "--batch", str(source), "--raw", "--delay", "60", "--format", "jsonl"
    )
    assert result.status == 0, result.stderr
    ids = [line["id"] for line in result.lines()]
    assert len(ids) == 2
    assert status(daemon)["delayed"] == 2
    assert job(daemon, ids[0])["payload"] == "first line"


def test_a_bad_line_enqueues_nothing_and_names_the_line(daemon: Any) -> None:
    result = sq(daemon, "enqueue", "--batch", "-", stdin='{"ok": 1}\n{"broken"\n')
    assert result.status == exits.USAGE
    assert "line 2" in result.stderr
    assert status(daemon)["total"] == 0
    missing = sq(daemon, "enqueue", "--batch", "/no/such/file")
    assert missing.status == exits.USAGE and "cannot read /no/such/file" in missing.stderr
    both = sq(daemon, "enqueue", "--batch", "-", '{"a": 1}', stdin="{}\n")
    assert both.status == exits.USAGE


def test_jsonl_prints_one_compact_line_per_job_and_topic(daemon: Any) -> None:
    for n in range(3):
        assert sq(daemon, "enqueue", "--id", f"j{n}", f'{{"n": {n}}}').status == 0
    jobs = sq(daemon, "jobs", "--format", "jsonl")
    assert jobs.status == 0, jobs.stderr
    assert [job["id"] for job in jobs.lines()] == ["j0", "j1", "j2"]
    assert all(line.startswith('{"id":') for line in jobs.stdout.splitlines())
    topics = sq(daemon, "topics", "--format", "jsonl")
    assert [t["topic"] for t in topics.lines()] == ["pipe"]
    one = sq(daemon, "status", "--format", "jsonl")
    assert len(one.stdout.splitlines()) == 1 and one.lines()[0]["pending"] == 3


def test_work_burst_drains_the_topic_and_exits(daemon: Any) -> None:
    empty = sq(daemon, "work", "--burst", "--", "true")
    assert empty.status == 0 and empty.lines() == []
    sq(daemon, "enqueue", "--batch", "-", stdin="1\n2\n3\n")
    sq(daemon, "enqueue", "--delay", "3600", '"later"')
    result = sq(daemon, "work", "--burst", "--", "cat > /dev/null")
    assert result.status == 0, result.stderr
    assert [line["outcome"] for line in result.lines()] == ["acked"] * 3
    after = status(daemon)
    assert (after["completed"], after["delayed"]) == (3, 1)  # a delayed job is not waited for


def test_status_watch_prints_a_line_per_round_until_ctrl_c(daemon: Any) -> None:
    sq(daemon, "enqueue", '"x"')
    proc = subprocess.Popen(
        [
            str(SIMPLEQUEUE),
            "-broker",
            daemon.http_url,
            "-topic",
            "pipe",
            "status",
            "--watch",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        rounds = [orjson.loads(proc.stdout.readline()) for _ in range(2)]
        assert [r["pending"] for r in rounds] == [1, 1]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
