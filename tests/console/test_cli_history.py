"""`simplequeue show` lists a job's attempts: a table in text output, the `history` field
in JSON and JSON lines, against a daemon."""

from __future__ import annotations

from typing import Any

import pytest

from console.cli.output import attempt_cells
from tests.support.cli import CliResult, run_cli_here


@pytest.mark.parametrize(
    ("ended", "took"),
    [("10:00:00.250Z", "250ms"), ("10:00:02.500Z", "2.5s"), ("10:04:30.000Z", "4.5m")],
)
def test_an_attempt_shows_how_long_it_took(ended: str, took: str) -> None:
    attempt = {"claimed_at": "2026-12-01T10:00:00.000Z", "ended_at": f"2026-12-01T{ended}"}
    assert attempt_cells({**attempt, "outcome": "acked"})[1:4] == [took, "acked", ""]


def test_show_lists_the_attempts_of_a_job(
    daemon_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon = daemon_factory("--backend", "memfs")

    def sq(*args: str) -> CliResult:
        result = run_cli_here(capsys, "-broker", daemon.http_url, "-topic", "t", *args)
        assert result.status == 0, result.stderr
        return result

    sq("enqueue", "--id", "j", "{}")
    assert "attempts, oldest first" not in sq("show", "j", "--format", "table").stdout
    sq("claim", "w1")
    sq("nack", "j", "--error", "disk full", "--delay", "0")
    sq("claim", "w2")

    shown = sq("show", "j", "--format", "json").json()
    assert [(a["worker"], a.get("outcome")) for a in shown["history"]] == [
        ("w1", "nacked"),
        ("w2", None),
    ]
    (line,) = sq("show", "j", "--format", "jsonl").lines()
    assert line["history"] == shown["history"]

    text = sq("show", "j", "--format", "table").stdout.splitlines()
    table = text[text.index("attempts, oldest first:") + 1 :]
    assert table[0].split() == ["claimed_at", "took", "outcome", "worker", "error"]
    first, second = (row.split() for row in table[1:])
    assert first[2:] == ["nacked", "w1", "disk", "full"]
    assert first[0] == shown["history"][0]["claimed_at"] and first[1].endswith("s")
    assert second[1:] == ["in", "flight", "w2"]  # no end yet
    assert not any(row.startswith("history") for row in text)  # not as a raw field
