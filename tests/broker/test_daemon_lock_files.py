"""localfs lock files under a real daemon that keeps starting new checkpoints: each lock
file belongs to a key that exists, so their number stays put however many checkpoints
came and went."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.daemon import Daemon

from .daemon_helpers import eventually, metric


def test_lock_files_of_deleted_checkpoints_go_with_them(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path), "--checkpoint-bytes", "2048")
    payload = {"text": "x" * 100}
    for n in range(200):
        body = {"id": f"job-{n:04d}", "payload": payload}
        assert d.request("POST", "/topics/big/enqueue", body)[0] == 201
    checkpoints = metric(d, "sq_checkpoints_total")
    assert checkpoints >= 10

    directory = tmp_path / "topics" / "big"

    def settled() -> list[str] | None:
        # Old checkpoints are deleted in the background after the pointer moved on.
        names = sorted(p.name for p in directory.iterdir() if p.name.startswith("checkpoint-"))
        return names if len(names) == 1 else None

    eventually(settled)
    assert d.stop() == 0  # a checkpoint in flight is finished or removed
    locks = list(tmp_path.rglob(".lock-*"))
    orphans = [p for p in locks if not p.with_name(p.name.removeprefix(".lock-")).exists()]
    assert orphans == []
    # broker.json, topics/big.json, a checkpoint or two, and each log object's (log
    # objects are kept for the grace period).
    logs = list((directory / "log").glob("0*.json"))
    assert len(locks) <= 4 + len(logs)
