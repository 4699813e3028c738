"""`common` stands alone: importing any of it loads neither the broker, the console nor Textual."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import common
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # every test here starts processes

FORBIDDEN = ["broker", "console", "textual"]


def common_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(common.__path__, prefix="common."))


def modules_loaded_by(imports: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {imports!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def roots(modules: list[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_common_imports_neither_broker_console_nor_textual() -> None:
    modules = common_modules()
    assert {"common.store.localfs", "common.store.s3", "common.settings"} <= set(modules)
    loaded = roots(modules_loaded_by(["common", *modules]))
    assert [name for name in FORBIDDEN if name in loaded] == []


def test_the_store_package_loads_aiobotocore_only_for_s3() -> None:
    basics = ["common", "common.store", "common.store.localfs", "common.settings", "common.models"]
    assert "aiobotocore" not in roots(modules_loaded_by(basics))
    assert "aiobotocore" in roots(modules_loaded_by(["common.store.s3"]))


def test_discovery_does_not_import_the_client() -> None:
    # The client imports discovery (Client.discover); the errors both raise live in
    # common.errors, so the two modules no longer import each other.
    assert "common.client" not in modules_loaded_by(["common.discovery"])
    assert "common.errors" in modules_loaded_by(["common.discovery"])
