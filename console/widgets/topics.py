"""The topics pane: one row per topic with its counts and throughput sparklines."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from console.model import TopicSummary, format_rate, preview, sparkline

COLUMNS = (
    ("topic", "topic"),
    ("pending", "pend"),
    ("claimed", "clmd"),
    ("completed", "done"),
    ("dead", "dead"),
    ("rate", "in / out (last minute)"),
)

ERROR_CHARS = 60  # of an invalid topic's problem, in place of its rates


def rate_cell(enqueue: list[float], complete: list[float]) -> Text:
    text = Text()
    text.append(sparkline(enqueue), style="cyan")
    text.append(f" {format_rate(enqueue[-1] if enqueue else 0):>7} ", style="dim")
    text.append(sparkline(complete), style="green")
    text.append(f" {format_rate(complete[-1] if complete else 0):>7}", style="dim")
    return text


def _count(value: int, style: str) -> Text:
    return Text(f"{value:,}", style=style if value else "dim", justify="right")


class TopicsPane(DataTable[Text]):
    """Every topic the source knows; the highlighted one fills the jobs table."""

    @dataclass
    class Selected(Message):
        topic: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._topics: set[str] = set()
        self._rates: dict[str, tuple[list[float], list[float]]] = {}  # as shown

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected(self) -> str | None:
        if not self._topics or self.cursor_row >= self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def show(self, summary: TopicSummary, rates: tuple[list[float], list[float]]) -> None:
        self._put(
            summary.topic,
            {
                "topic": Text(summary.topic, style="bold"),
                "pending": _count(summary.pending, "cyan"),
                "claimed": _count(summary.claimed, "yellow"),
                "completed": _count(summary.completed, "green"),
                "dead": _count(summary.dead, "bold red"),
                "rate": rate_cell(*rates),
            },
        )
        self._rates[summary.topic] = rates

    def show_invalid(self, topic: str, problem: str) -> None:
        """Mark a topic whose document cannot be read: no counts, the problem instead."""
        unknown = Text("-", style="dim", justify="right")
        cells = dict.fromkeys(("pending", "claimed", "completed", "dead"), unknown)
        cells["topic"] = Text(f"{topic} ✗", style="bold red")
        cells["rate"] = Text(preview(problem, ERROR_CHARS), style="red")
        self._put(topic, cells)

    def _put(self, topic: str, cells: dict[str, Text]) -> None:
        if topic in self._topics:
            for key, value in cells.items():
                self.update_cell(topic, key, value, update_width=True)
            return
        keep = self.selected
        self._topics.add(topic)
        self.add_row(*(cells[key] for key, _ in COLUMNS), key=topic)
        self.sort("topic", key=lambda text: text.plain)
        if keep is not None:
            self.move_cursor(row=self.get_row_index(keep))

    def update_rates(self, topic: str, rates: tuple[list[float], list[float]]) -> None:
        """Called every second for every topic: the cell changes only when the rates do."""
        if topic in self._topics and self._rates.get(topic) != rates:
            self._rates[topic] = rates
            self.update_cell(topic, "rate", rate_cell(*rates), update_width=True)

    def remove_topic(self, topic: str) -> None:
        if topic in self._topics:
            self._topics.discard(topic)
            self._rates.pop(topic, None)
            self.remove_row(topic)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Selected(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
