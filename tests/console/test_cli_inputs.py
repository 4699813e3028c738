"""`simplequeue` as a subprocess: numbers outside the ranges the broker enforces
(common/limits.py) are usage errors (exit 2, one line) before any request; numbers at
the edge of their range reach a real daemon and work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.daemon import start_daemon

pytestmark = pytest.mark.slow  # every test here starts processes

UNREACHABLE = ["--broker", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["enqueue", "--delay", "1e15", "{}"], "--delay: must be a number of seconds from 0 to"),
        (["nack", "job-1", "--delay", "1e300"], "--delay: must be a number of seconds from 0"),
        (["claim", "w", "--wait", "nan"], "--wait: must be a number of seconds from 0 to 300"),
        (["jobs", "--limit", "5000"], "--limit: must be an integer from 1 to 1000, got '5000'"),
        (["enqueue", '{"n": 123456789012345678901234}'], "does not fit in 64 bits"),
        (["show", "j" * 300], "must be 1 to 256 characters"),
    ],
)
def test_out_of_range_arguments_are_usage_errors(args: list[str], text: str) -> None:
    result = run_cli(*UNREACHABLE, *args)
    assert result.status == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert text in result.stderr


def test_the_edges_of_the_ranges_reach_the_broker(tmp_path: Path) -> None:
    daemon = start_daemon("--dir", str(tmp_path))
    try:
        broker = ["--broker", daemon.http_url, "--topic", "edges"]
        done = run_cli(
            *broker, "enqueue", "--id", "j" * 256, "--delay", "31536000", "[18446744073709551615]"
        )
        assert done.status == 0, done
        shown = run_cli(*broker, "show", "j" * 256)
        assert shown.status == 0, shown
        assert shown.json()["payload"] == [18446744073709551615]
        listed = run_cli(*broker, "jobs", "--limit", "1000")
        assert listed.status == 0 and len(listed.json()["jobs"]) == 1
    finally:
        daemon.stop()
