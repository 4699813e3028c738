"""Pausing a topic and its settings dialog in sq-console, against a real broker: the
confirmation, the paused mark in the topics pane, and the stored topic changed as promised
(its document's `settings`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import Input, Label

from console.app import ConsoleApp
from console.screens.settings import SettingsScreen
from console.widgets.topics import TopicsPane
from tests.console.pilot import SIZE, Notes, row_ids
from tests.console.pilot import wait_until as until
from tests.console.test_ui_bulk import answer, call, console, showing


def stored_settings(root: Path) -> Any:
    """The topic's settings as its newest log object or checkpoint stores them."""
    folder = root / "topics" / "orders"
    for path in sorted((folder / "log").glob("0*.json"), reverse=True):
        found = json.loads(path.read_bytes())
        if "settings" in found:
            return found["settings"]
    return None


def topic_cell(app: ConsoleApp) -> str:
    pane = app.screen.query_one(TopicsPane)
    return str(pane.get_cell("orders", "topic"))


async def test_pause_and_resume_with_a_confirmation(tmp_path: Path, daemon_factory: Any) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    call(daemon, "POST", "/topics/orders/enqueue", {"id": "j0", "payload": 0})
    app = console(tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await showing(pilot, app, "j0")
        await pilot.press("p")
        question = await answer(pilot, app, "n")
        assert question == "Pause orders? Claims will find nothing; enqueues still land."
        assert stored_settings(tmp_path) is None  # "no" changes nothing

        await pilot.press("p")
        await answer(pilot, app, "y")
        await until(pilot, lambda: stored_settings(tmp_path) == {"paused": True}, what="paused")
        await until(pilot, lambda: topic_cell(app) == "orders paused", what="marked paused")
        await until(pilot, lambda: notes.find("Paused orders"), what="note")
        status, reply = daemon.request("POST", "/topics/orders/claim", {"worker_id": "w"})
        assert (status, reply["code"]) == (404, "empty")

        await pilot.press("p")
        assert await answer(pilot, app, "y") == (
            "Resume orders? Waiting workers get its jobs again."
        )
        await until(pilot, lambda: stored_settings(tmp_path) == {}, what="resumed")
        await until(pilot, lambda: topic_cell(app) == "orders", what="mark gone")
        claimed = call(daemon, "POST", "/topics/orders/claim", {"worker_id": "w"})
        assert claimed["job"]["id"] == "j0"


async def test_the_settings_dialog_shows_and_changes_the_topic_settings(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--max-attempts", "6")
    call(daemon, "POST", "/topics/orders/enqueue", {"id": "j0", "payload": 0})
    call(daemon, "PATCH", "/topics/orders/settings", {"retry_cap": 9})
    app = console(tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await showing(pilot, app, "j0")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="dialog")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        await until(pilot, lambda: screen.view is not None, what="settings read")
        attempts = screen.query_one("#setting-max_attempts", Input)
        cap = screen.query_one("#setting-retry_cap", Input)
        assert (attempts.value, attempts.placeholder) == ("", "6 (broker flag)")
        assert cap.value == "9"  # the topic's own

        attempts.value = "-2"
        await pilot.press("ctrl+s")
        error = str(screen.query_one("#form-error").render())
        assert "max_attempts must be an integer from 0 to 1000000" in error
        assert stored_settings(tmp_path) == {"retry_cap": 9.0}  # nothing sent

        attempts.value = "2"
        cap.value = ""  # back to the broker's flag
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="closed")
        await until(pilot, lambda: stored_settings(tmp_path) == {"max_attempts": 2}, what="stored")
        await until(pilot, lambda: notes.find("Settings of orders"), what="note")
        shown = call(daemon, "GET", "/topics/orders/settings")
        assert shown["overridden"] == ["max_attempts"] and shown["settings"]["retry_cap"] == 300

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="again")
        again = app.screen
        assert isinstance(again, SettingsScreen)
        await until(pilot, lambda: again.view is not None, what="read again")
        note = str(again.query_one("#settings-note", Label).render())
        assert note.startswith("not paused (p pauses)")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="closed")


async def test_the_stale_view_uses_the_topic_visibility_timeout(
    tmp_path: Path, daemon_factory: Any
) -> None:
    flags = ("--visibility-timeout", "600", "--reaper-period", "3600")  # never stale, never reaped
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), *flags)
    call(daemon, "POST", "/topics/orders/enqueue", {"id": "j0", "payload": 0})
    call(daemon, "POST", "/topics/orders/claim", {"worker_id": "w"})
    call(daemon, "PATCH", "/topics/orders/settings", {"visibility_timeout": 2})
    app = console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await showing(pilot, app, "j0")
        await pilot.press("2")
        # Stale from half the topic's 2 s, where the broker's 600 s would take 5 minutes.
        await until(pilot, lambda: row_ids(app) == ["j0"], what="stale by the topic's timeout")
