import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here starts processes

REPO = Path(__file__).resolve().parents[2]


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        check=True,
    )
    return {name.split(".")[0] for name in done.stdout.split()}


@pytest.mark.parametrize(
    "module",
    ["console.model", "console.tail", "console.actions", "console.broker_link", "console.settings"],
)
def test_console_logic_imports_without_textual(module: str) -> None:
    assert "textual" not in loaded_after(f"import {module}")


def test_console_app_never_imports_the_broker() -> None:
    assert "broker" not in loaded_after("import console.app")
