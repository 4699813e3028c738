import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import parse_settings
from console.settings import ConsoleSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_sq_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SQ_BACKEND", "SQ_DIR", "SQ_BROKER", "SQ_BUCKET"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_read_the_brokers_default_storage() -> None:
    settings = parse_settings(ConsoleSettings, [])
    assert settings.reads_storage and settings.backend == "localfs"
    assert settings.worker_id == f"sq-console@{socket.gethostname()}"
    assert (settings.poll_interval, settings.row_cap) == (1.0, 1000)


def test_broker_alone_reads_no_storage() -> None:
    settings = parse_settings(ConsoleSettings, ["--broker", "http://127.0.0.1:8080/"])
    assert settings.broker == "http://127.0.0.1:8080"
    assert not settings.reads_storage
    assert settings.source() == "broker http://127.0.0.1:8080"


def test_broker_with_storage_flags_reads_storage() -> None:
    argv = ["--broker", "http://h:1", "-dir", "/srv/sq", "--row-cap", "100"]
    settings = parse_settings(ConsoleSettings, argv)
    assert settings.reads_storage and settings.row_cap == 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--broker", "localhost:8080"], "--broker must be an http"),
        (["--backend", "memfs"], "memfs lives inside one process"),
        (["--poll-interval", "0"], "--poll-interval"),
    ],
)
@pytest.mark.slow  # starts processes
def test_bad_flags_are_one_line_errors(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "console.app", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
