"""What the console's dialogs with fields share: ctrl+s (or enter in a one-line field, or the
submit button) sends the request the fields build; a field that cannot be sent is shown
inline in `#form-error` and keeps the dialog open; Esc (or the cancel button) closes it
with nothing."""

from __future__ import annotations

from typing import Generic, TypeVar

from rich.text import Text
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from console.actions import FormInvalid

RequestT = TypeVar("RequestT")


class FormScreen(ModalScreen[RequestT | None], Generic[RequestT]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Send"),
    ]

    def _request(self) -> RequestT:
        """The request the fields stand for, or FormInvalid naming the bad field."""
        raise NotImplementedError

    def _show_error(self, message: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(Text(message))
        error.set_class(bool(message), "-shown")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        try:
            request = self._request()
        except FormInvalid as exc:
            self._show_error(str(exc))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)
