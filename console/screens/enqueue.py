"""The enqueue dialog: a JSON editor, an optional id and delay, errors shown inline.

The dialog only builds the request; it stays open while the form is invalid, so a bad
payload never reaches the broker.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from console.actions import Enqueue, FormInvalid, enqueue_from_form

EXAMPLE = '{\n  "item": "book"\n}'


class EnqueueScreen(ModalScreen[Enqueue | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Enqueue"),
    ]

    def __init__(self, topic: str, payload: str = EXAMPLE) -> None:
        super().__init__()
        self.topic = topic
        self.initial = payload

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="enqueue-dialog"):
            yield Label(f"Enqueue a job on [b]{self.topic}[/b]", classes="title")
            yield Label("Payload (JSON)", classes="field-label")
            yield TextArea(
                self.initial, id="payload", show_line_numbers=True, tab_behavior="indent"
            )
            with Horizontal(classes="fields"):
                yield Input(placeholder="job id (optional)", id="job-id")
                yield Input(placeholder="delay seconds (optional)", id="delay")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Enqueue (ctrl+s)", id="submit", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#payload", TextArea).focus()

    def _request(self) -> Enqueue:
        return enqueue_from_form(
            self.topic,
            self.query_one("#payload", TextArea).text,
            self.query_one("#job-id", Input).value,
            self.query_one("#delay", Input).value,
        )

    def _show_error(self, message: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    def on_text_area_changed(self) -> None:
        # Clear a shown error as soon as the payload is fixed.
        if self.query_one("#form-error", Static).has_class("-shown"):
            try:
                self._request()
            except FormInvalid as exc:
                self._show_error(str(exc))
            else:
                self._show_error("")

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
