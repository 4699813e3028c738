"""The enqueue dialog: a JSON editor, an optional id and delay, errors shown inline. Tab
moves between the fields (payload, id, delay, buttons) in that order.

The dialog only builds the request; it stays open while the form is invalid, so a bad
payload never reaches the broker.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static, TextArea

from console.actions import Enqueue, FormInvalid, enqueue_from_form
from console.screens.form import FormScreen

EXAMPLE = '{\n  "item": "book"\n}'


class EnqueueScreen(FormScreen[Enqueue]):
    def __init__(self, topic: str, payload: str = EXAMPLE) -> None:
        super().__init__()
        self.topic = topic
        self.initial = payload

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="enqueue-dialog"):
            yield Label(f"Enqueue a job on [b]{self.topic}[/b]", classes="title")
            yield Label("Payload (JSON)", classes="field-label")
            # Tab moves to the next field, as everywhere else in a form; JSON needs no tabs.
            yield TextArea(self.initial, id="payload", show_line_numbers=True, tab_behavior="focus")
            with Horizontal(classes="fields"):
                with Vertical(classes="field"):
                    yield Label("Job id (empty: the broker picks one)", classes="field-label")
                    yield Input(placeholder="order-1042", id="job-id")
                with Vertical(classes="field"):
                    yield Label("Delay in seconds (empty: none)", classes="field-label")
                    yield Input(placeholder="30", id="delay")
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

    def on_text_area_changed(self) -> None:
        # Clear a shown error as soon as the payload is fixed.
        if self.query_one("#form-error", Static).has_class("-shown"):
            try:
                self._request()
            except FormInvalid as exc:
                self._show_error(str(exc))
            else:
                self._show_error("")
