"""Run `simplequeue`: the installed script as a subprocess, as a user's shell would, or
`console.cli.main` in this process (much faster, for tests of many commands in a row)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SIMPLEQUEUE = Path(sys.executable).with_name("simplequeue")


@dataclass(frozen=True)
class CliResult:
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return orjson.loads(self.stdout)

    def lines(self) -> list[Any]:
        return [orjson.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
) -> CliResult:
    """`simplequeue ARGS...` with SQ_* variables of the calling shell removed."""
    assert SIMPLEQUEUE.exists(), f"{SIMPLEQUEUE} is missing: run `make test` to install"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SQ_")}
    proc = subprocess.run(
        [str(SIMPLEQUEUE), *args],
        capture_output=True,
        text=True,
        input=input,
        env=clean | (env or {}),
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """`simplequeue ARGS...` in this process (no SQ_* variables should be set)."""
    from console.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return CliResult(int(exited.value.code or 0), captured.out, captured.err)
