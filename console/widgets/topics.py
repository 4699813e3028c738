"""The topics pane: one row per topic with its counts and throughput sparklines.

Topics are sorted naturally (`t-2` before `t-10`); a click on a column header sorts by
that column (again: the other way round). A filter keeps the topics whose name contains
its text. A topic seen but not read yet (a big document takes seconds) says `loading…`."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from console.model import (
    SHOWN_STATUSES,
    TopicSummary,
    format_rate,
    natural_key,
    preview,
    sparkline,
)

# Short headers of the count columns; a status not named here shows its first letters.
COUNT_LABELS = {"pending": "pend", "delayed": "dlyd", "claimed": "clmd", "completed": "done"}
COUNT_STYLES = {
    "pending": "cyan",
    "delayed": "magenta",
    "claimed": "yellow",
    "completed": "green",
    "dead": "bold red",
}
COUNTS = SHOWN_STATUSES  # one column per status, in JobStatus's order
COLUMNS = (
    ("topic", "topic"),
    *((status, COUNT_LABELS.get(status, status[:4])) for status in COUNTS),
    ("rate", "in / out (last minute)"),
)

ERROR_CHARS = 60  # of an invalid topic's problem, in place of its rates
# After a topic's name (names have no spaces, so the sort strips them back off).
INVALID_MARK = " ✗"
PAUSED_MARK = " paused"


def topic_cell(topic: str, paused: bool) -> Text:
    if paused:
        return Text.assemble((topic, "bold"), (PAUSED_MARK, "bold yellow"))
    return Text(topic, style="bold")


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
        self._cells: dict[str, dict[str, Text]] = {}  # every topic, shown or filtered out
        self._topics: set[str] = set()  # the rows shown
        self._rates: dict[str, tuple[list[float], list[float]]] = {}  # as shown
        # What a click on a column header sorts by: counts, and the latest enqueue rate.
        self._values: dict[str, dict[str, float]] = {}
        self.filter_text = ""
        self.sort_column = "topic"
        self.sort_reverse = False

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        self._title()

    @property
    def selected(self) -> str | None:
        if not self._topics or self.cursor_row >= self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    @property
    def shown_topics(self) -> list[str]:
        """The topics in the pane, in its order."""
        return [str(row.key.value) for row in self.ordered_rows]

    def show(self, summary: TopicSummary, rates: tuple[list[float], list[float]]) -> None:
        self._put(
            summary.topic,
            {
                "topic": topic_cell(summary.topic, summary.paused),
                **{
                    status: _count(summary.counts[status], COUNT_STYLES.get(status, ""))
                    for status in COUNTS
                },
                "rate": rate_cell(*rates),
            },
            {
                **{status: float(summary.counts[status]) for status in COUNTS},
                "rate": rates[0][-1] if rates[0] else 0.0,
            },
        )
        self._rates[summary.topic] = rates

    def show_loading(self, topic: str) -> None:
        """A topic whose document is being read: no counts yet."""
        if topic in self._cells:
            return  # known already: its counts stay until the new ones come
        cells = dict.fromkeys(COUNTS, Text("…", style="dim", justify="right"))
        cells["topic"] = Text(topic, style="bold")
        cells["rate"] = Text("loading…", style="dim italic")
        self._put(topic, cells)

    def show_invalid(self, topic: str, problem: str) -> None:
        """Mark a topic whose document cannot be read: no counts, the problem instead."""
        cells = dict.fromkeys(COUNTS, Text("-", style="dim", justify="right"))
        cells["topic"] = Text(f"{topic}{INVALID_MARK}", style="bold red")
        cells["rate"] = Text(preview(problem, ERROR_CHARS), style="red")
        self._put(topic, cells)

    def _matches(self, topic: str) -> bool:
        return self.filter_text.casefold() in topic.casefold()

    def _put(
        self, topic: str, cells: dict[str, Text], values: dict[str, float] | None = None
    ) -> None:
        self._cells[topic] = cells
        self._values[topic] = values or {}  # unknown counts sort below zero
        if topic in self._topics:
            for key, value in cells.items():
                self.update_cell(topic, key, value, update_width=True)
            if self.sort_column != "topic":
                self._sort()
            return
        if not self._matches(topic):
            self._title()
            return
        keep = self.selected
        self._topics.add(topic)
        self.add_row(*(cells[key] for key, _ in COLUMNS), key=topic)
        self._sort()
        if keep is not None:
            self.move_cursor(row=self.get_row_index(keep))
        self._title()

    def _sort(self) -> None:
        column = self.sort_column

        def key(cell: Text) -> tuple[float, list[str | int]]:
            topic = cell.plain.removesuffix(INVALID_MARK).removesuffix(PAUSED_MARK)
            value = 0.0 if column == "topic" else self._values[topic].get(column, -1.0)
            return value, natural_key(topic)

        self.sort("topic", key=key, reverse=self.sort_reverse)

    def set_filter(self, text: str) -> None:
        """Show only the topics whose name contains `text` (empty: all)."""
        keep = self.selected
        self.filter_text = text
        self.clear()
        self._topics = set()
        for topic, cells in self._cells.items():
            if self._matches(topic):
                self._topics.add(topic)
                self.add_row(*(cells[key] for key, _ in COLUMNS), key=topic)
        self._sort()
        if keep in self._topics:
            self.move_cursor(row=self.get_row_index(keep))
        self._title()

    def _title(self) -> None:
        if self.filter_text:
            self.border_title = (
                f"topics matching {self.filter_text!r}: {len(self._topics)} of {len(self._cells)}"
            )
        else:
            self.border_title = None

    def update_rates(self, topic: str, rates: tuple[list[float], list[float]]) -> None:
        """Called every second for every topic: the cell changes only when the rates do."""
        if topic in self._cells and self._rates.get(topic) != rates:
            self._rates[topic] = rates
            self._cells[topic]["rate"] = rate_cell(*rates)
            self._values[topic]["rate"] = rates[0][-1] if rates[0] else 0.0
            if topic in self._topics:
                self.update_cell(topic, "rate", self._cells[topic]["rate"], update_width=True)

    def remove_topic(self, topic: str) -> None:
        self._cells.pop(topic, None)
        self._rates.pop(topic, None)
        self._values.pop(topic, None)
        if topic in self._topics:
            self._topics.discard(topic)
            self.remove_row(topic)
        self._title()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = str(event.column_key.value)
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            # Names A to Z; counts and rates largest first.
            self.sort_column, self.sort_reverse = column, column != "topic"
        self._sort()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Selected(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
