"""A topic's throughput over the last 5, 15 and 60 minutes, from its lifetime counters as
the console has seen them (a window longer than the console has watched the topic shows
the part it has seen)."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from console.model import HISTORY_WINDOWS, Throughput, format_age, format_rate


def history_table(throughput: Throughput, now: datetime) -> Table:
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for name in ("window", "seen", "enqueued", "in", "completed", "out"):
        table.add_column(name, justify="left" if name == "window" else "right")
    for minutes in HISTORY_WINDOWS:
        rates = throughput.over(now, minutes)
        table.add_row(
            f"last {minutes} min",
            format_age(rates.seen),
            f"{rates.enqueued:,}",
            format_rate(rates.per_minute(rates.enqueued) / 60),
            f"{rates.completed:,}",
            format_rate(rates.per_minute(rates.completed) / 60),
        )
    return table


class HistoryScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,h", "close", "Close")]

    def __init__(self, topic: str, throughput: Throughput, now: datetime) -> None:
        super().__init__()
        self.topic = topic
        self.throughput = throughput
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="history-dialog"):
            yield Label(Text.assemble("Throughput of ", (self.topic, "bold")), classes="title")
            yield Static(history_table(self.throughput, self.now), id="history")
            yield Label(
                "From the topic's counters as this console has seen them. esc to close.",
                classes="hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)
