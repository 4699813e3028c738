import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import StorageSettings, normalize_flags, parse_settings


def test_default_is_durable_localfs_in_sq_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQ_BACKEND", raising=False)
    monkeypatch.delenv("SQ_DIR", raising=False)
    settings = parse_settings(StorageSettings, [])
    assert settings.backend == "localfs"
    assert settings.dir == Path("sq-data")


def test_seed_single_dash_flags_are_accepted() -> None:
    settings = parse_settings(StorageSettings, ["-backend", "localfs", "-dir", "/x"])
    assert (settings.backend, settings.dir) == ("localfs", Path("/x"))
    assert normalize_flags(["-h"], StorageSettings) == ["-h"]


def test_env_vars_fill_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQ_BACKEND", "s3")
    monkeypatch.setenv("SQ_BUCKET", "queue")
    monkeypatch.setenv("SQ_S3_ENDPOINT", "http://127.0.0.1:9000")
    settings = parse_settings(StorageSettings, [])
    assert (settings.bucket, settings.s3_endpoint) == ("queue", "http://127.0.0.1:9000")
    assert settings.location() == "s3://queue"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "s3"], "--bucket is required"),
        (["--backend", "nfs"], "--backend"),
        (["--dir", ""], "--dir is required"),
    ],
)
@pytest.mark.slow  # starts processes
def test_bad_settings_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    code = (
        "from common.settings import StorageSettings, parse_settings;"
        f"parse_settings(StorageSettings, {argv!r}, 'prog')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("prog: error: ")
    assert message in lines[0]
