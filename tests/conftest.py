"""Fixtures shared by the whole suite.

Fixture modules live in tests/support/ (one per concern: moto, daemon, ...); every module
there is loaded as a pytest plugin, so adding one needs no edit here.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = sorted(
    f"tests.support.{path.stem}"
    for path in (Path(__file__).parent / "support").glob("*.py")
    if path.stem != "__init__"
)
