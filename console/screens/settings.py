"""The settings dialog of a topic: each setting in force, as the broker reports it
(`GET /topics/{topic}/settings`), with a field for the topic's own value. An empty field
is the broker's flag (shown greyed in it); ctrl+s (or enter) sends what changed in one
commit, checked as every form is (console/screens/form.py). Pausing has its own key."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from common.client import Client
from common.errors import ClientError
from common.limits import TOPIC_SETTINGS
from console.actions import ChangeSettings, FormInvalid, settings_from_form
from console.screens.form import FormScreen

#: The settings with a field (pausing has a key of its own), and what each means.
FIELDS = {
    "visibility_timeout": "visibility timeout (s)",
    "max_attempts": "max attempts (0: unlimited)",
    "completed_retention": "completed jobs kept",
    "dead_retention": "dead jobs kept",
    "retry_base": "retry backoff base (s)",
    "retry_cap": "retry backoff cap (s)",
}
assert set(FIELDS) | {"paused"} == set(TOPIC_SETTINGS)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


class SettingsScreen(FormScreen[ChangeSettings]):
    def __init__(self, topic: str, client: Client) -> None:
        super().__init__()
        self.topic = topic
        self.client = client
        self.view: dict[str, Any] | None = None  # the settings as last read

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="settings-dialog"):  # scrolls when small
            yield Label(Text.assemble("Settings of ", (self.topic, "bold")), classes="title")
            yield Label("loading…", id="settings-note", classes="hint")
            for name, meaning in FIELDS.items():
                with Horizontal(classes="setting"):  # one line each: fits 80x24
                    yield Label(meaning, classes="field-label")
                    yield Input(id=f"setting-{name}", disabled=True, compact=True)
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="submit", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        try:
            view = await self.client.settings(self.topic)
        except ClientError as exc:
            self.query_one("#settings-note", Label).update(
                f"cannot read the settings: {exc.message}"
            )
            return
        self.show(view)

    def show(self, view: dict[str, Any]) -> None:
        self.view = view
        own = set(view.get("overridden", []))
        for name in FIELDS:
            field = self.query_one(f"#setting-{name}", Input)
            value = view["settings"][name]
            field.value = _number(value) if name in own else ""
            field.placeholder = f"{_number(value)} (broker flag)"
            field.disabled = False
        paused = view["settings"]["paused"]
        note = "paused (p resumes)" if paused else "not paused (p pauses)"
        note += " · empty field: the broker's flag"
        self.query_one("#settings-note", Label).update(note)
        self.query_one(f"#setting-{next(iter(FIELDS))}", Input).focus()

    def _request(self) -> ChangeSettings:
        if self.view is None:
            raise FormInvalid("the settings are not read yet: wait a moment")
        texts = {name: self.query_one(f"#setting-{name}", Input).value for name in FIELDS}
        return settings_from_form(self.topic, self.view, texts)
