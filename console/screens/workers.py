"""The workers of a topic, as the broker reports them (`GET /topics/{topic}/workers`):
claims in flight, the oldest claim, the last heartbeat, and what each worker claimed,
acked and nacked through that broker. Refreshed every poll interval while open."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from common.client import Client
from common.errors import ClientError

COLUMNS = ("worker", "claims", "oldest_claim", "last_heartbeat", "claimed", "acked", "nacked")


class WorkersScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,w", "close", "Close")]

    def __init__(self, topic: str, client: Client, poll_interval: float) -> None:
        super().__init__()
        self.topic = topic
        self.client = client
        self.poll_interval = poll_interval

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="workers-dialog"):
            yield Label(Text.assemble("Workers of ", (self.topic, "bold")), classes="title")
            table: DataTable[Any] = DataTable(id="workers", cursor_type="row")
            table.add_columns(*COLUMNS)
            yield table
            yield Label("loading…", id="workers-note", classes="hint")

    def on_mount(self) -> None:
        self.poll()

    @work(exclusive=True, exit_on_error=False)
    async def poll(self) -> None:
        while True:
            try:
                rows = await self.client.workers(self.topic)
            except ClientError as exc:
                self.query_one("#workers-note", Label).update(f"cannot list workers: {exc.message}")
            else:
                self.show(rows)
            await asyncio.sleep(self.poll_interval)

    def show(self, rows: list[dict[str, Any]]) -> None:
        table: DataTable[Any] = self.query_one("#workers", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*(str(row.get(name) or "") for name in COLUMNS), key=row["worker"])
        note = (
            f"{len(rows)} worker{'s' if len(rows) != 1 else ''}: claims from storage; claimed, "
            "acked and nacked as this broker saw them (15 minutes). esc to close."
        )
        self.query_one("#workers-note", Label).update(note)

    def action_close(self) -> None:
        self.dismiss(None)
