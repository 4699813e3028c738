"""Help and errors as a user reads them, for the three programs: no Python type names or
pydantic defaults in help, one `prog: error:` line for a bad flag, subcommand help that
lists its own flags, and a console that offers only the backends it can read."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow  # every test here starts processes

PROGRAMS = {"simplequeued": "broker", "sq-console": "console.app", "simplequeue": "console.cli"}
SUBCOMMANDS = ("enqueue", "claim", "ack", "nack", "status", "jobs", "work", "reset-invalid")


def run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", PROGRAMS[program], *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT)},
    )


def assert_reads_well(text: str) -> None:
    assert "default factory" not in text
    assert "(default: None)" not in text
    assert "(default: )" not in text
    # A metavar that is a Python type: `--dir Path`, `--addr str`, `--max-attempts int`.
    assert not re.search(r"--[a-z0-9-]+ (Path|str|int|float|bool)\b", text), text
    assert not re.search(r"\(default: \d+\.0\)", text), text  # 30, not 30.0


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_help_has_no_implementation_noise(program: str) -> None:
    done = run(program, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: {program}" in done.stdout
    assert_reads_well(done.stdout)


def test_daemon_help_names_values_and_defaults_as_a_user_reads_them() -> None:
    text = " ".join(run("simplequeued", "--help").stdout.split())
    for shown in (
        "--dir DIR storage directory for localfs (default: sq-data)",
        "--visibility-timeout SECONDS",
        "--max-attempts N",
        "--s3-endpoint URL",
        "--auth-token TOKEN",
        "(default: 30)",
    ):
        assert shown in text


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_a_bad_flag_is_one_error_line(program: str) -> None:
    done = (
        run(program, "--bogus", "status") if program == "simplequeue" else run(program, "--bogus")
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"{program}: error: ")
    assert line.count("error") == 1, line
    assert "unrecognized arguments: --bogus" in line


def test_console_offers_only_the_backends_it_can_read() -> None:
    text = run("sq-console", "--help").stdout
    assert "{localfs,s3}" in text
    assert "memfs" not in text
    refused = run("sq-console", "--backend", "memfs")
    assert refused.returncode == 2
    assert refused.stderr.startswith("sq-console: error: --backend memfs lives inside one")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help_lists_its_own_flags_and_points_to_the_global_ones(command: str) -> None:
    done = run_cli(command, "--help")
    assert done.status == 0, done.stderr
    assert done.stdout.startswith(f"usage: simplequeue {command} [-h]")
    assert_reads_well(done.stdout)
    for global_flag in ("-broker URL, --broker URL", "--s3-endpoint", "--max-age", "--bucket"):
        assert global_flag not in done.stdout
    assert "see simplequeue --help" in done.stdout
    assert len(done.stdout.splitlines()) < 40


def test_global_flags_still_work_after_the_command() -> None:
    done = run_cli("status", "--broker", "http://127.0.0.1:9", "--timeout", "1", "--topic", "t")
    assert done.status == 5  # parsed, then the broker was unreachable
    assert "127.0.0.1:9 is unreachable" in done.stderr


def test_top_level_help_lists_the_global_flags() -> None:
    done = run_cli("--help")
    for global_flag in (
        "--broker URL",
        "--topic T",
        "--format {json,jsonl,table}",
        "--s3-endpoint",
    ):
        assert global_flag in done.stdout
    assert_reads_well(done.stdout)
