"""`simplequeue` starts light: no broker (the CLI talks HTTP only), no Textual, and no
aiobotocore unless --discover needs S3; `--help` and a one-request command such as
`status` load neither aiohttp nor pydantic, which took most of a second to import."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # every test here starts processes

HEAVY = {"aiohttp", "pydantic", "pydantic_core", "pydantic_settings"}


def run_and_list(setup: str, argv: list[str] | None = None) -> tuple[set[str], str]:
    """Top-level modules loaded by `setup`, then by `console.cli.main(argv)` if given,
    and what that printed on stdout."""
    code = f"import json, sys\n{setup}\n"
    if argv is not None:
        code += (
            "from console.cli import main\n"
            "try:\n"
            f"    main({argv!r})\n"
            "except SystemExit as exc:\n"
            "    assert exc.code == 0, exc.code\n"
        )
    code += "print(json.dumps(sorted({n.partition('.')[0] for n in sys.modules})), file=sys.stderr)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60
    )
    return set(json.loads(out.stderr.splitlines()[-1])), out.stdout.decode()


def loaded_after(setup: str, argv: list[str] | None = None) -> set[str]:
    return run_and_list(setup, argv)[0]


def test_cli_loads_neither_broker_textual_nor_aiobotocore() -> None:
    loaded = loaded_after("import console.cli, console.cli.work")
    assert {"console", "common"} <= loaded
    assert loaded.isdisjoint({"broker", "textual", "aiobotocore"})


def test_help_loads_neither_aiohttp_nor_pydantic() -> None:
    for argv in (["--help"], ["status", "--help"], ["work", "--help"]):
        loaded = loaded_after("", argv)
        assert "console" in loaded
        assert loaded.isdisjoint(HEAVY), (argv, loaded & HEAVY)


def test_status_against_a_broker_loads_neither_aiohttp_nor_pydantic(
    daemon_factory: Any, tmp_path: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    daemon.request("POST", "/topics/t/enqueue", {"payload": 1})
    argv = ["--broker", daemon.http_url, "--topic", "t", "status"]
    loaded, stdout = run_and_list("", argv)
    assert json.loads(stdout)["pending"] == 1  # the broker was asked and answered
    assert loaded.isdisjoint(HEAVY), loaded & HEAVY
