"""The nack dialog: an error text to record and a delay before the job is available again,
both optional; sent and checked as every form is (console/screens/form.py)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from console.actions import Nack, nack_from_form
from console.screens.form import FormScreen


class NackScreen(FormScreen[Nack]):
    def __init__(self, topic: str, job_id: str) -> None:
        super().__init__()
        self.topic = topic
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="nack-dialog"):
            yield Label(
                Text.assemble("Nack job ", (self.job_id, "bold"), f" on {self.topic}"),
                classes="title",
            )
            yield Label("Error (empty: none recorded)", classes="field-label")
            yield Input(placeholder="payment gateway timeout", id="nack-error")
            yield Label(
                "Delay in seconds before a retry (empty: the broker's backoff; 0: at once)",
                classes="field-label",
            )
            yield Input(placeholder="30", id="nack-delay")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Nack (enter)", id="submit", variant="warning")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#nack-error", Input).focus()

    def _request(self) -> Nack:
        return nack_from_form(
            self.topic,
            self.job_id,
            self.query_one("#nack-error", Input).value,
            self.query_one("#nack-delay", Input).value,
        )
