"""The jobs table: rows keyed by job id, updated in place as documents change.

`show(rows, columns)` diffs the new rows against what the table holds: changed cells are
updated by row key, vanished rows removed, new rows added, and the rows re-ordered only
when their order differs. The cursor stays on its job (not on its row number), so a
live-updating table does not jump under the operator.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from console.model import COLUMN_LABELS, JobRow, Tint
from console.widgets.topics import COUNT_STYLES

STATUS_STYLES = COUNT_STYLES
TINT_STYLES = {Tint.NONE: "", Tint.WARN: "black on yellow", Tint.STALE: "bold white on red"}


def cell(row: JobRow, column: str) -> Text:
    """One cell as Text (never markup: ids and payloads are user data)."""
    value: str = getattr(row, column)
    if column == "status":
        return Text(value, style=STATUS_STYLES.get(value, ""))
    if column == "heartbeat":
        return Text(value, style=TINT_STYLES[row.tint])
    if column == "last_error":
        return Text(value, style="red")
    return Text(value)


class JobsTable(DataTable[Text]):
    """Jobs of the selected topic in one view (jobs, stale or dead)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.columns_shown: tuple[str, ...] = ()
        self.shown: dict[str, JobRow] = {}

    @property
    def current_job_id(self) -> str | None:
        """The job under the cursor, if any."""
        if not self.shown or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return key.value

    def show(self, rows: list[JobRow], columns: tuple[str, ...]) -> None:
        keep = self.current_job_id
        # Removing a row costs a pass over the table, so a big change (a new filter, a
        # trimmed backlog) is cheaper as one rebuild.
        gone = len(self.shown.keys() - {row.id for row in rows})
        if columns != self.columns_shown or gone > max(50, len(self.shown) // 10):
            self._rebuild(rows, columns)
        else:
            self._patch(rows)
        self._restore_cursor(keep)

    def _rebuild(self, rows: list[JobRow], columns: tuple[str, ...]) -> None:
        self.clear(columns=True)
        self.columns_shown = columns
        for name in columns:
            self.add_column(COLUMN_LABELS[name], key=name)
        self.shown = {}
        self._add(rows)

    def _add(self, rows: list[JobRow]) -> None:
        widths = dict.fromkeys(self.columns_shown, 0)
        for row in rows:
            cells = [cell(row, name) for name in self.columns_shown]
            self.add_row(*cells, key=row.id)
            self.shown[row.id] = row
            for name, value in zip(self.columns_shown, cells, strict=True):
                widths[name] = max(widths[name], value.cell_len)
        # DataTable measures new rows when it next goes idle; now and then (a new table
        # filled in one go) that pass missed them and the columns stayed as narrow as
        # their labels. Widening here makes the widths hold whatever happens at idle.
        for name, width in widths.items():
            column = self.columns[ColumnKey(name)]
            column.content_width = max(column.content_width, width)

    def _patch(self, rows: list[JobRow]) -> None:
        wanted = {row.id: row for row in rows}
        for job_id in [job_id for job_id in self.shown if job_id not in wanted]:
            self.remove_row(job_id)
            del self.shown[job_id]
        new: list[JobRow] = []
        for row in rows:
            old = self.shown.get(row.id)
            if old is None:
                new.append(row)
            elif old != row:
                self._update_row(old, row)
        self._add(new)
        order = [row.id for row in rows]
        if order != [key.value for key in self._ordered_keys()]:
            position = {job_id: index for index, job_id in enumerate(order)}
            self.sort("id", key=lambda text: position[text.plain])

    def update_rows(self, rows: list[JobRow]) -> None:
        """Update the cells that differ in rows the table already holds (others are
        ignored): how the clock's changes reach the table without a pass over every row."""
        for row in rows:
            old = self.shown.get(row.id)
            if old is not None and old != row:
                self._update_row(old, row)

    def rows_in_sight(self) -> tuple[int, int]:
        """Row indexes [first, last) that the table's viewport shows now."""
        first = int(self.scroll_y)
        return first, first + self.scrollable_content_region.height + 1

    def _update_row(self, old: JobRow, row: JobRow) -> None:
        for name in self.columns_shown:
            if getattr(old, name) != getattr(row, name) or (
                name == "heartbeat" and old.tint != row.tint
            ):
                self._update(row.id, name, cell(row, name))
        self.shown[row.id] = row

    def _update(self, job_id: str, column: str, value: Text) -> None:
        # Widen a column for a longer value, but never narrow it here: DataTable measures
        # the whole column again when a cell shrinks, once per updated cell.
        wider = value.cell_len > self.columns[ColumnKey(column)].content_width
        self.update_cell(job_id, column, value, update_width=wider)

    def _ordered_keys(self) -> list[RowKey]:
        return [row.key for row in self.ordered_rows]

    def _restore_cursor(self, job_id: str | None) -> None:
        if job_id is None or job_id not in self.shown:
            return  # its job left the view: the cursor stays on the same row number
        index = self.get_row_index(job_id)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=False)
