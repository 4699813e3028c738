"""Helpers for driving sq-console with Textual's Pilot."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from console.app import ConsoleApp
from console.screens.main import MainScreen
from console.widgets.header import BrokerHeader
from console.widgets.jobs_table import JobsTable

SIZE = (150, 44)


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], object], within: float = 60.0, what: str = ""
) -> None:
    """Poll the condition (the machine is shared and slow: never assert timing)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


def main_screen(app: ConsoleApp) -> MainScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, MainScreen)
    return screen


def table(app: ConsoleApp) -> JobsTable:
    return main_screen(app).query_one(JobsTable)


def row_ids(app: ConsoleApp) -> list[str]:
    return [str(row.key.value) for row in table(app).ordered_rows]


def cell(app: ConsoleApp, job_id: str, column: str) -> str:
    return str(table(app).get_cell(job_id, column))


def header_text(app: ConsoleApp) -> str:
    return main_screen(app).query_one(BrokerHeader).render_text().plain


def broker_line(app: ConsoleApp) -> str:
    """The header's first line: the broker and the connection state."""
    return header_text(app).splitlines()[0]


class Notes:
    """Records every notification the app shows."""

    def __init__(self, app: ConsoleApp) -> None:
        self.messages: list[tuple[str, str]] = []
        original = app.notify

        def notify(message: str, *args: Any, **kwargs: Any) -> None:
            self.messages.append((message, kwargs.get("severity", "information")))
            original(message, *args, **kwargs)

        app.notify = notify  # type: ignore[method-assign]

    def find(self, text: str) -> list[tuple[str, str]]:
        return [(m, s) for m, s in self.messages if text in m]
