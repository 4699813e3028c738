"""The keys of the console, generated from the main screen's bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def keys_table(bindings: list[BindingType], notes: dict[str, str]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column(style="bold")
    table.add_column(style="dim")
    for binding in bindings:
        if isinstance(binding, Binding):
            keys = ", ".join(binding.key.split(","))
            table.add_row(keys, binding.description, notes.get(binding.action, ""))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, bindings: list[BindingType], notes: dict[str, str]) -> None:
        super().__init__()
        self.bindings = bindings
        self.notes = notes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help-dialog"):
            yield Label("sq-console keys", classes="title")
            yield Static(keys_table(self.bindings, self.notes), id="keys")
            yield Label(
                "ctrl+p opens the command palette with every action. esc to close.",
                classes="hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)
