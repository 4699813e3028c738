"""Bulk actions and the workers view of sq-console against a real broker: the
confirmation shows the count, and the broker's status (not the console's view) is the
judge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Label

from console.app import ConsoleApp
from console.screens.confirm import ConfirmScreen
from console.screens.workers import WorkersScreen
from console.settings import ConsoleSettings
from tests.console.pilot import SIZE, Notes, broker_line, row_ids
from tests.console.pilot import wait_until as until


def call(daemon: Any, method: str, path: str, body: Any = None) -> Any:
    status, reply = daemon.request(method, path, body)
    assert status in (200, 201), (path, status, reply)
    return reply


def status(daemon: Any) -> dict[str, Any]:
    result: dict[str, Any] = call(daemon, "GET", "/topics/orders/status")
    return result


def console(root: Path) -> ConsoleApp:
    return ConsoleApp(ConsoleSettings(dir=root, poll_interval=0.2, worker_id="console@test"))


def fill(daemon: Any) -> None:
    """4 pending jobs, 2 of them dead after one failed attempt each."""
    jobs = [{"id": f"j{n}", "payload": n} for n in range(4)]
    call(daemon, "POST", "/topics/orders/batch", {"jobs": jobs})
    call(daemon, "POST", "/topics/orders/claim", {"worker_id": "w1", "count": 2})
    for job_id in ("j0", "j1"):
        call(daemon, "POST", "/topics/orders/nack", {"job_id": job_id, "error": "boom"})


async def showing(pilot: Any, app: ConsoleApp, job_id: str) -> None:
    """Wait until the console is connected and shows `job_id`."""
    await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
    await until(pilot, lambda: job_id in row_ids(app), what="jobs shown")


async def answer(pilot: Any, app: ConsoleApp, key: str) -> str:
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
    assert isinstance(app.screen, ConfirmScreen)
    question = app.screen.question
    await pilot.press(key)
    return question


async def test_requeue_dead_and_purge_ask_with_the_count(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--max-attempts", "1")
    fill(daemon)
    app = console(tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await showing(pilot, app, "j3")

        await pilot.press("R")
        assert (
            await answer(pilot, app, "n") == "Requeue all 2 dead jobs of orders (attempts reset)?"
        )
        assert status(daemon)["dead"] == 2  # "no" changes nothing
        await pilot.press("R")
        await answer(pilot, app, "y")
        await until(pilot, lambda: status(daemon)["dead"] == 0, what="dead jobs requeued")
        await until(pilot, lambda: notes.find("Requeued 2 dead jobs of orders"), what="note")

        await pilot.press("P")
        question = await answer(pilot, app, "y")
        assert question == "Purge all 4 jobs of orders? This cannot be undone."
        await until(pilot, lambda: status(daemon)["total"] == 0, what="purged")
        assert status(daemon)["counters"]["purged"] == 4
        await until(pilot, lambda: notes.find("Purged 4 jobs from orders"), what="note")


async def test_purge_in_the_dead_view_removes_only_dead_jobs(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--max-attempts", "1")
    fill(daemon)
    app = console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await showing(pilot, app, "j3")
        await pilot.press("3")
        await pilot.press("P")
        assert await answer(pilot, app, "y") == (
            "Purge all 2 dead jobs of orders? This cannot be undone."
        )
        await until(pilot, lambda: status(daemon)["dead"] == 0, what="dead purged")
        assert (status(daemon)["pending"], status(daemon)["total"]) == (2, 2)


async def test_workers_view_lists_what_the_broker_reports(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    jobs = [{"id": f"j{n}", "payload": n} for n in range(3)]
    call(daemon, "POST", "/topics/orders/batch", {"jobs": jobs})
    call(daemon, "POST", "/topics/orders/claim", {"worker_id": "alpha", "count": 2})
    call(daemon, "POST", "/topics/orders/ack", {"job_id": "j0"})
    app = console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await showing(pilot, app, "j2")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen), what="workers view")

        def alpha_row() -> list[str] | None:
            table: DataTable[Any] = app.screen.query_one("#workers", DataTable)
            if "alpha" not in [key.value for key in table.rows]:
                return None
            return [str(cell) for cell in table.get_row("alpha")]

        await until(pilot, lambda: alpha_row() is not None, what="alpha listed")
        row = alpha_row()
        assert row is not None
        assert (row[0], row[1], row[4], row[5]) == (
            "alpha",
            "1",
            "2",
            "1",
        )  # claims, claimed, acked
        note = str(app.screen.query_one("#workers-note", Label).render())
        assert "1 worker" in note
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, WorkersScreen), what="closed")
