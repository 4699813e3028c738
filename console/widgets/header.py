"""The header bar: which broker, how alive, where the data comes from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from console.broker_link import BrokerStatus, LinkState
from console.model import format_age

STATE_STYLES = {
    LinkState.CONNECTED: "bold green",
    LinkState.CONNECTING: "bold yellow",
    LinkState.STANDBY: "bold yellow",
    LinkState.UNREACHABLE: "bold red",
    LinkState.STALE: "bold red",
    LinkState.STOPPED: "bold red",
    LinkState.NO_BROKER: "bold red",
}

DOWN = {LinkState.UNREACHABLE, LinkState.STALE, LinkState.STOPPED, LinkState.NO_BROKER}


class BrokerHeader(Static):
    """Two lines: the broker and its state; the data source and its state."""

    def __init__(self, source: str, clock: Callable[[], datetime], *, id: str | None = None):
        super().__init__(id=id)
        self.source = source
        self.clock = clock
        self.status = BrokerStatus(LinkState.CONNECTING, "looking for the broker")
        self.tail_description = ""
        self.source_problem = ""
        self._shown = Text()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_text)
        self.refresh_text()

    def set_status(self, status: BrokerStatus) -> None:
        self.status = status
        self.set_class(status.state in DOWN, "-down")
        self.refresh_text()

    def set_source(self, description: str, problem: str = "") -> None:
        self.tail_description = description
        self.source_problem = problem
        self.refresh_text()

    def render_text(self) -> Text:
        """Fields are parted by a dim `·`, never by spaces alone: each styled run is its own
        text element in an SVG screenshot, and renderers that trim those ran words
        together (`connectedbroker`)."""
        status = self.status
        fields: list[Text] = [Text(f"● {status.state.value}", style=STATE_STYLES[status.state])]
        if status.broker_id:
            fields.append(Text.assemble(("broker ", "dim"), (status.broker_id, "bold")))
        if status.address:
            fields.append(Text(status.address))
        if status.active is not None:
            fields.append(Text("active" if status.active else "standby", style="bold"))
        if status.ready is not None:
            ready, style = ("ready", "green") if status.ready else ("not ready", "bold red")
            fields.append(Text(ready, style=style))
        if status.heartbeat is not None:
            age = (self.clock() - status.heartbeat).total_seconds()
            fields.append(Text(f"heartbeat {format_age(age)} ago", style="dim"))
        line = Text()
        line.append(" sq-console ", style="bold reverse")
        line.append(" ")
        line.append(Text(" · ", style="dim").join(fields))
        line.append("\n ")
        line.append(self.source, style="bold")
        if self.tail_description:
            line.append(" · ", style="dim")
            line.append(self.tail_description, style="dim")
        problems = [p for p in (status.message, self.source_problem) if p]
        if problems:
            line.append("\n ")
            line.append(" · ".join(problems), style="bold red" if not status.usable else "red")
        return line

    def refresh_text(self) -> None:
        text = self.render_text()
        if text != self._shown:  # called every second; most seconds change nothing
            self._shown = text
            self.update(text)
