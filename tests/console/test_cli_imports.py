"""`simplequeue` starts light: no broker (the CLI talks HTTP only), no Textual, and no
aiobotocore unless --discover needs S3."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # every test here starts processes


def test_cli_loads_neither_broker_textual_nor_aiobotocore() -> None:
    code = (
        "import json, sys\n"
        "import console.cli, console.cli.work\n"
        "print(json.dumps(sorted({name.partition('.')[0] for name in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60
    )
    loaded = set(json.loads(out.stdout))
    assert {"console", "common", "aiohttp"} <= loaded
    assert loaded.isdisjoint({"broker", "textual", "aiobotocore"})
