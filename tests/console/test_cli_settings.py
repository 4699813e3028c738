"""`simplequeue settings`, `pause` and `resume` against a daemon: what they show, what
they store, and bad input refused with a one-line error and nothing changed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from common.limits import TOPIC_SETTINGS
from common.models import TopicSettings
from console.cli import exits
from tests.support.cli import CliResult, run_cli, run_cli_here
from tests.support.daemon import Daemon


@pytest.fixture
def daemon(daemon_factory: Any, tmp_path: Path) -> Daemon:
    started: Daemon = daemon_factory("--dir", str(tmp_path), "--max-attempts", "4")
    return started


@pytest.fixture
def sq(daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in [name for name in os.environ if name.startswith("SQ_")]:
        monkeypatch.delenv(name)

    def run(*args: str) -> CliResult:
        return run_cli_here(capsys, "--broker", daemon.http_url, *args)

    return run


def stored_settings(daemon: Daemon, topic: str) -> Any:
    status, document = daemon.request("GET", f"/topics/{topic}/document")
    assert status == 200, document
    return document.get("settings")


def test_the_cli_settings_table_matches_the_model() -> None:
    assert list(TOPIC_SETTINGS) == list(TopicSettings.model_fields)


def test_settings_show_set_and_clear(sq: Any, daemon: Daemon) -> None:
    daemon.request("POST", "/topics/orders/enqueue", {"payload": 1})
    shown = sq("settings", "orders")
    assert shown.status == 0, shown.stderr
    assert shown.json()["settings"]["max_attempts"] == 4 and shown.json()["overridden"] == []

    changed = sq("settings", "orders", "--max-attempts", "2", "--visibility-timeout", "7.5")
    assert changed.status == 0, changed.stderr
    assert changed.json()["overridden"] == ["visibility_timeout", "max_attempts"]
    assert stored_settings(daemon, "orders") == {"visibility_timeout": 7.5, "max_attempts": 2}

    table = sq("--format", "table", "settings", "orders").stdout.splitlines()
    assert table[0].split() == ["setting", "value", "from"]
    assert table[2].split() == ["max_attempts", "2", "topic"]
    assert table[3].split() == ["completed_retention", "1000", "broker", "flag"]

    cleared = sq("settings", "orders", "--clear", "max_attempts")
    assert cleared.json()["settings"]["max_attempts"] == 4
    assert stored_settings(daemon, "orders") == {"visibility_timeout": 7.5}
    # The global --topic names the topic when no TOPIC is given.
    assert sq("--topic", "orders", "settings").json() == cleared.json()


def test_pause_and_resume(sq: Any, daemon: Daemon) -> None:
    daemon.request("POST", "/topics/orders/enqueue", {"id": "a", "payload": 1})
    assert sq("pause", "orders").json() == {"topic": "orders", "paused": True}
    assert stored_settings(daemon, "orders") == {"paused": True}
    assert sq("--topic", "orders", "claim", "w").status == exits.NOTHING_TO_CLAIM
    assert sq("--topic", "orders", "status").json()["paused"] is True
    table = sq("--format", "table", "topics").stdout.splitlines()
    assert table[0].split()[-1] == "paused" and table[1].split()[-1] == "paused"

    # `work --burst` finds nothing to do on a paused topic and exits at once.
    burst = ["--broker", daemon.http_url, "--topic", "orders", "work", "--burst", "--", "true"]
    worked = run_cli(*burst)
    assert (worked.status, worked.stdout) == (0, ""), worked

    assert sq("resume", "orders").json() == {"topic": "orders", "paused": False}
    assert stored_settings(daemon, "orders") is None  # no settings left: no field
    assert run_cli(*burst).lines()[0]["id"] == "a"  # resumed: the job is worked
    assert "paused" not in sq("--format", "table", "topics").stdout


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["--max-attempts", "-1"], exits.USAGE, "must be an integer from 0 to 1000000"),
        (["--retry-cap", "soon"], exits.USAGE, "must be a number of seconds"),
        (["--clear", "bogus"], exits.USAGE, "invalid choice: 'bogus'"),
        (["--max-attempts", "2", "--clear", "max_attempts"], exits.USAGE, "contradict"),
        (["--visibility-timeout", "0"], exits.ERROR, "visibility_timeout must be above 0"),
    ],
)
def test_bad_settings_are_one_line_errors_and_change_nothing(
    daemon: Daemon, args: list[str], status: int, words: str
) -> None:
    daemon.request("PATCH", "/topics/orders/settings", {"dead_retention": 9})
    done = run_cli("--broker", daemon.http_url, "settings", "orders", *args)
    assert done.status == status, done
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
    assert stored_settings(daemon, "orders") == {"dead_retention": 9}
