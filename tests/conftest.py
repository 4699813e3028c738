"""Fixtures shared by the whole suite, and its split into `unit` and `slow` tests.

Fixture modules live in tests/support/ (one per concern: moto, daemon, ...); every module
there is loaded as a pytest plugin, so adding one needs no edit here.

`make test` runs every test; `make test-fast` runs `-m "not slow"`, the unit tests. A test
is `slow` when it lives in tests/e2e or tests/chaos, uses a fixture that starts a daemon or
moto's server, is parametrized over the s3 backend (moto), or is marked
`@pytest.mark.slow` (a test that starts processes itself: the daemon, the CLI, python -c).
Every other test is `unit`, and a unit test that starts a process or moto's server fails
with a message saying to mark it slow, so a slow test cannot hide in the fast subset.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

pytest_plugins = sorted(
    f"tests.support.{path.stem}"
    for path in (Path(__file__).parent / "support").glob("*.py")
    if path.stem != "__init__"
)

SLOW_DIRS = ("e2e", "chaos")
# Fixtures that start a daemon subprocess or a moto server (directly or through others).
SLOW_FIXTURES = frozenset({"daemon_factory", "resp_daemon", "moto_server"})
SLOW_PARAMS = frozenset({"s3"})  # a backend parameter that means moto's server


def _slow(item: pytest.Item) -> bool:
    if item.path.relative_to(TESTS).parts[0] in SLOW_DIRS:
        return True
    if set(getattr(item, "fixturenames", ())) & SLOW_FIXTURES:
        return True
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(isinstance(value, str) and value in SLOW_PARAMS for value in params)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is None and _slow(item):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.unit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A unit test that starts a process (subprocess, asyncio, the CLI) or moto's server, in
    the test or in a fixture of any scope, fails: mark it slow."""
    if item.get_closest_marker("unit") is None:
        return (yield)

    def refuse(what: str) -> AssertionError:
        return AssertionError(
            f"{item.nodeid} starts {what}: mark it @pytest.mark.slow "
            "(tests/conftest.py says how tests are split)"
        )

    def no_process(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        raise refuse(f"a process ({args!r})")

    def no_moto(**kwargs: Any) -> Any:
        raise refuse("moto's server")

    from tests.support import moto  # imported here: pytest loads it as a plugin first

    popen: Any = subprocess.Popen
    original_popen, original_moto = popen._execute_child, moto.running_moto
    popen._execute_child = no_process
    moto.running_moto = no_moto
    try:
        return (yield)
    finally:
        popen._execute_child = original_popen
        moto.running_moto = original_moto
