"""The console's job detail lists the job's attempts, read from a real broker's storage."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console as RichConsole
from textual.widgets import Static

from console.screens.detail import JobDetailScreen
from tests.console.pilot import SIZE, row_ids, table
from tests.console.pilot import wait_until as until
from tests.console.test_ui_broker import enqueue, localfs_console


def call(daemon: Any, path: str, body: dict[str, Any]) -> None:
    status, reply = daemon.request("POST", f"/topics/orders/{path}", json=body)
    assert status == 200, reply


def shown(static: Static) -> str:
    out = RichConsole(width=200, record=True, file=io.StringIO())
    out.print(static.content)
    return out.export_text()


async def test_job_detail_lists_each_attempt_with_its_worker_and_outcome(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "j")
    enqueue(daemon, "never")
    call(daemon, "claim", {"worker_id": "w1"})
    call(daemon, "nack", {"job_id": "j", "error": "disk full", "delay_seconds": 0})
    call(daemon, "claim", {"worker_id": "w2"})
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["j", "never"], what="rows")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="detail")
        rows = shown(app.screen.query_one("#attempts", Static)).splitlines()
        assert rows[0].split() == ["claimed", "at", "(UTC)", "took", "outcome", "worker"]
        assert rows[1].split()[3:] == ["nacked", "w1"]
        assert rows[2].split() == ["disk", "full"]  # the error, under its attempt
        assert rows[3].split()[2:] == ["in", "flight", "w2"]
        fields = shown(app.screen.query_one("#fields", Static))
        assert "history" not in fields  # the attempts are their own section
        await pilot.press("escape")

        table(app).move_cursor(row=1)  # a job never claimed has no attempts to show
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="detail")
        assert not app.screen.query("#attempts")
