"""The keys of the console, generated from the main screen's bindings."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def keys_table(
    bindings: list[BindingType], notes: dict[str, str], display: Callable[[Binding], str]
) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column(style="bold")
    table.add_column(style="dim")
    for binding in bindings:
        if isinstance(binding, Binding):
            table.add_row(display(binding), binding.description, notes.get(binding.action, ""))
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
            keys = keys_table(self.bindings, self.notes, self.app.get_key_display)
            yield Static(keys, id="keys")
            yield Label(
                "ctrl+p opens the command palette with every action. esc to close.",
                classes="hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)
