"""SIGTERM is handled from the moment the daemon says it is listening.

A supervisor (or a test) may stop the broker as soon as it logs `listening`; before the
handler was installed first, about half of such SIGTERMs killed it (exit -15) without
marking the registry `stopping`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.daemon import Daemon


def test_sigterm_right_after_listening_stops_cleanly(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    codes = [daemon_factory("--dir", str(tmp_path), redis=True).stop() for _ in range(8)]
    assert codes == [0] * 8
    assert json.loads((tmp_path / "broker.json").read_text())["state"] == "stopping"
