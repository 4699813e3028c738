"""One job in full: every field, its attempts (history) and the payload as highlighted,
indented JSON, as the job was when the dialog opened."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.highlight import highlight
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from common.models import Job, format_time
from console.cli.output import attempt_cells
from console.model import pretty_payload


def fields_table(job: Job) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for name, value in job.model_dump(exclude={"payload", "history"}, exclude_none=True).items():
        shown = format_time(value) if isinstance(value, datetime) else str(value)
        table.add_row(name, Text(shown))
    return table


def attempts_text(job: Job) -> Text:
    """The job's attempts, oldest first: a line each, its error (if any) on the next, so
    that a narrow dialog wraps the error rather than squeezing every column."""
    text = Text(f"{'claimed at (UTC)':<19}  {'took':>6}  {'outcome':<9}  worker", style="bold")
    for attempt in job.history or []:
        cells = attempt_cells(attempt.model_dump(mode="json", exclude_none=True))
        claimed, took, outcome, worker, error = cells
        to_second = claimed[:19].replace("T", " ")  # room for the worker at 80 columns
        text.append(f"\n{to_second}  {took:>6}  {outcome:<9}  {worker}", style="not bold")
        if error:
            text.append(f"\n  {error}", style="not bold italic")
    return text


class JobDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, topic: str, job: Job) -> None:
        super().__init__()
        self.topic = topic
        self.job = job

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="detail-dialog"):
            yield Label(
                Text.assemble("Job ", (self.job.id, "bold"), f" on {self.topic}"), classes="title"
            )
            yield Static(fields_table(self.job), id="fields")
            if self.job.history:
                yield Label("Attempts, oldest first", classes="field-label section")
                yield Static(attempts_text(self.job), id="attempts")
            yield Label("Payload", classes="field-label")
            with VerticalScroll(id="payload-scroll"):
                yield Static(highlight(pretty_payload(self.job), language="json"), id="payload")
            yield Label("esc to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
