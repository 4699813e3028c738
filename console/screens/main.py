"""The main view: header, topics, the jobs table in three views, and every action.

State kept here is only what the operator chose (topic, view, filter, search, sort, window)
and the latest document of each topic. Everything on screen is rebuilt from those by
console.model; the background workers (tail, broker checks, actions) only post messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from common.client import Client, ClientError
from common.keys import InvalidTopicName, validate_topic
from common.models import Job, JobStatus, TopicDocument
from console.actions import (
    Ack,
    Action,
    ActionFailed,
    ChangeSettings,
    Claim,
    Delete,
    Enqueue,
    Nack,
    Purge,
    Requeue,
    RequeueDead,
    perform,
)
from console.broker_link import BrokerLink, BrokerStatus, LinkState
from console.export import export_view
from console.messages import ActionFinished, BrokerStatusChanged, TailUpdate
from console.model import (
    COLUMNS,
    SHOWN_STATUSES,
    PayloadTexts,
    SortOrder,
    Throughput,
    ViewKind,
    ViewSpec,
    clock_bound,
    is_delayed,
    job_row,
    select_jobs,
    summarize,
    view_window,
)
from console.screens.confirm import ConfirmScreen
from console.screens.detail import JobDetailScreen
from console.screens.enqueue import EnqueueScreen
from console.screens.help import HelpScreen
from console.screens.history import HistoryScreen
from console.screens.nack import NackScreen
from console.screens.prompt import PromptScreen
from console.screens.settings import SettingsScreen
from console.screens.workers import WorkersScreen
from console.tail import (
    SourceState,
    Tail,
    TopicInvalid,
    TopicLoading,
    TopicRemoved,
    TopicSnapshot,
)
from console.widgets.header import BrokerHeader
from console.widgets.jobs_table import JobsTable
from console.widgets.topics import TopicsPane

STATUS_CYCLE: list[str | None] = [None, *SHOWN_STATUSES]
SORT_CYCLE = list(SortOrder)
# key and name
VIEW_LABELS = {"jobs": "1 Jobs", "stale": "2 Stale", "dead": "3 Dead", "delayed": "4 Delayed"}


@dataclass
class Services:
    """What the main screen works with, built by the app from the settings."""

    link: BrokerLink
    tail: Tail
    source: str  # where the data comes from, for the header
    worker_id: str
    row_cap: int
    poll_interval: float
    clock: Callable[[], datetime]
    export_dir: Path = Path(".")


# Extra words for the help screen, by action.
HELP_NOTES = {
    "enqueue": "JSON payload, optional id and delay",
    "claim": "the oldest available job, as --worker-id",
    "ack": "claimed -> completed",
    "nack": "claimed -> pending (or dead at max attempts); asks for an error and a delay",
    "requeue": "dead or claimed -> pending, attempts reset",
    "delete": "pending or dead; asks first",
    "purge": "remove every job of the topic in one commit (in the dead view, or filtered "
    "by a status: only those); asks first, with the count",
    "requeue_dead": "every dead job of the topic back to pending in one commit; asks first",
    "workers": "the workers seen on the topic: claims, last heartbeat, acked, nacked",
    "pause": "pause (claims find nothing, enqueues land) or resume; asks first",
    "settings": "view and set the topic's visibility timeout, attempts, retention, backoff",
    "detail": "all fields and the payload (also enter)",
    "view('jobs')": "every job; filter, search and sort apply",
    "view('stale')": "claimed jobs late on their heartbeat, stalest first",
    "view('dead')": "dead jobs with their last error",
    "view('delayed')": "pending jobs not available yet, soonest first",
    "filter": "cycle: " + ", ".join(status or "all" for status in STATUS_CYCLE),
    "filter_topics": "topics whose name contains a text; esc or empty clears",
    "search": "id or payload text; esc or empty clears",
    "sort": "queue order, oldest, newest, stalest heartbeat (or click a column header)",
    "window(-1)": "previous rows when the table is capped",
    "window(1)": "next rows when the table is capped",
    "history": "the topic's throughput over 5, 15 and 60 minutes",
    "export": "the current view (every row, not only the window) to a JSON file",
    "help": "this list",
    "app.quit": "leave the console",
}


class MainScreen(Screen[None]):
    # Help comes first so that the footer keeps it however narrow the terminal.
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("e", "enqueue", "Enqueue"),
        Binding("c", "claim", "Claim"),
        Binding("a", "ack", "Ack"),
        Binding("n", "nack", "Nack"),
        Binding("r", "requeue", "Requeue"),
        Binding("d", "delete", "Delete"),
        Binding("P", "purge", "Purge", show=False),
        Binding("R", "requeue_dead", "Requeue dead", show=False),
        Binding("w", "workers", "Workers", show=False),
        Binding("p", "pause", "Pause/resume", show=False),
        Binding("s", "settings", "Settings", show=False),
        # Shown in the tab labels and the help rather than the footer, to keep it short.
        Binding("i", "detail", "Detail", show=False),
        Binding("1", "view('jobs')", "Jobs", show=False),
        Binding("2", "view('stale')", "Stale", show=False),
        Binding("3", "view('dead')", "Dead", show=False),
        Binding("4", "view('delayed')", "Delayed", show=False),
        Binding("f", "filter", "Filter"),
        Binding("slash", "search", "Search"),
        Binding("o", "sort", "Sort"),
        Binding("t", "filter_topics", "Topics", show=False),
        Binding("h", "history", "History", show=False),
        Binding("x", "export", "Export", show=False),
        Binding("left_square_bracket", "window(-1)", "Prev rows", show=False),
        Binding("right_square_bracket", "window(1)", "Next rows", show=False),
        Binding("q", "app.quit", "Quit"),
    ]
    # Classes for small terminals (app.tcss): below 100 columns the footer is compact;
    # below 20 lines the header and topics give up their borders and spare lines, so the
    # jobs table keeps rows down to 60x16.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.link = services.link
        self.clock = services.clock
        self.docs: dict[str, TopicDocument] = {}
        self.throughput: dict[str, Throughput] = {}
        self.selected: str | None = None
        self.spec = ViewSpec()
        self.window_start = 0
        self.texts = PayloadTexts()
        self.status: BrokerStatus = self.link.status
        self.shown: list[Job] = []  # the jobs in the table, in its order
        self.loading_topics: set[str] = set()  # topics seen whose first document is being read
        self.next_due: dict[str, datetime | None] = {}  # per topic: soonest delayed job due
        self.status_line = ""

    # --- layout and workers ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield BrokerHeader(self.services.source, self.clock, id="header")
        yield TopicsPane(id="topics")
        yield Tabs(*(Tab(label, id=kind) for kind, label in VIEW_LABELS.items()), id="views")
        yield Static("no topic yet", id="view-status")
        yield JobsTable(id="jobs-table")
        yield Footer(id="footer")

    def on_resize(self) -> None:
        footer = self.query_one(Footer)
        footer.compact = self.has_class("-narrow")
        # ctrl+p still opens the palette (the help says so); its hint would cover keys.
        footer.show_command_palette = not footer.compact

    def on_mount(self) -> None:
        self.header.set_source(self.services.tail.description)
        self.follow_tail()
        self.watch_broker()
        self.set_interval(1.0, self.tick)
        # Views change with 1/2/3, so tab only moves between the topics and the jobs.
        self.query_one("#views", Tabs).can_focus = False
        self.query_one(JobsTable).focus()

    @property
    def header(self) -> BrokerHeader:
        return self.query_one(BrokerHeader)

    @property
    def table(self) -> JobsTable:
        return self.query_one(JobsTable)

    @work(exclusive=True, group="tail", exit_on_error=False)
    async def follow_tail(self) -> None:
        async for event in self.services.tail.events():
            self.post_message(TailUpdate(event))

    @work(exclusive=True, group="link", exit_on_error=False)
    async def watch_broker(self) -> None:
        while True:
            try:
                status = await self.link.check()
            except Exception as exc:  # a check must never stop the checking
                status = BrokerStatus(LinkState.UNREACHABLE, f"broker check failed: {exc}")
            self.post_message(BrokerStatusChanged(status))
            await asyncio.sleep(self.services.poll_interval)

    @work(group="action", exit_on_error=False)
    async def send_action(self, action: Action) -> None:
        client = self.link.usable_client()
        if client is None:
            self.post_message(ActionFinished(self.link.status.refusal(), ok=False))
            return
        try:
            text = await perform(client, action)
        except (ClientError, ActionFailed) as exc:
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            self.post_message(ActionFinished(message or str(exc), ok=False))
        else:
            self.post_message(ActionFinished(text, ok=True))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures land: say so, and restart the endless ones."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        self.notify(f"{event.worker.name} failed: {error}", severity="error", timeout=8)
        restart = {"tail": self.follow_tail, "link": self.watch_broker}.get(event.worker.group)
        if restart is not None:
            self.set_timer(self.services.poll_interval, restart)

    # --- data in ------------------------------------------------------------------------

    def on_tail_update(self, message: TailUpdate) -> None:
        event = message.event
        if isinstance(event, TopicSnapshot):
            self.loading_topics.discard(event.topic)
            self.docs[event.topic] = event.document
            history = self.throughput.setdefault(event.topic, Throughput())
            history.add(self.clock(), event.document.counters)
            self._show_topic(event.topic)
            if event.topic == self.selected:
                self.refresh_jobs()
        elif isinstance(event, TopicLoading):
            self.loading_topics.add(event.topic)
            self.query_one(TopicsPane).show_loading(event.topic)
            if event.topic == self.selected:
                self.refresh_jobs()
        elif isinstance(event, TopicRemoved):
            self.loading_topics.discard(event.topic)
            self.docs.pop(event.topic, None)
            self.throughput.pop(event.topic, None)
            self.query_one(TopicsPane).remove_topic(event.topic)
            if event.topic == self.selected:
                self.refresh_jobs()
        elif isinstance(event, TopicInvalid):
            # Marked in the list, and its jobs no longer shown as if they were current.
            self.loading_topics.discard(event.topic)
            self.docs.pop(event.topic, None)
            self.throughput.pop(event.topic, None)
            self.query_one(TopicsPane).show_invalid(event.topic, event.message)
            if event.topic == self.selected:
                self.refresh_jobs()
            self.notify(event.message, title="Unreadable document", severity="warning")
        elif isinstance(event, SourceState):
            self.header.set_source(self.services.tail.description, event.message)

    def _show_topic(self, topic: str) -> None:
        """The topic's counts from its document and the clock (delayed jobs turn pending)."""
        now = self.clock()
        summary = summarize(self.docs[topic], now)
        self.next_due[topic] = summary.next_due
        self.query_one(TopicsPane).show(summary, self.throughput[topic].rates(now))

    def on_broker_status_changed(self, message: BrokerStatusChanged) -> None:
        before, self.status = self.status, message.status
        self.header.set_status(self.status)
        if before.usable != self.status.usable and before.state is not LinkState.CONNECTING:
            if self.status.usable:
                self.notify(f"Connected to broker {self.status.broker_id} ({self.status.address})")
            else:
                self.notify(self.status.message, title="Broker unavailable", severity="warning")
        if before.visibility_timeout != self.status.visibility_timeout:
            self.refresh_jobs()

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.ok:
            self.notify(message.text, timeout=4)
        else:
            self.notify(message.text, title="Action failed", severity="error", timeout=8)

    @on(TopicsPane.Selected)
    def select_topic(self, message: TopicsPane.Selected) -> None:
        if message.topic == self.selected:
            return
        self.selected = message.topic
        self.window_start = 0
        self.texts = PayloadTexts()
        self.refresh_jobs()

    @on(Tabs.TabActivated, "#views")
    def switch_view(self, message: Tabs.TabActivated) -> None:
        kind = ViewKind(message.tab.id or "jobs")
        if kind is not self.spec.kind:
            self.spec = replace(self.spec, kind=kind)
            self.window_start = 0
            self.refresh_jobs()

    @on(DataTable.RowSelected, "#jobs-table")
    def open_detail(self) -> None:
        self.action_detail()

    def tick(self) -> None:
        """Ages move with the clock even when no document changes. Only what the clock
        changes is redrawn: the ages of the rows in sight (a row scrolled into sight gets
        its ages at the next tick), tab counts and rates that differ."""
        now = self.clock()
        pane = self.query_one(TopicsPane)
        for topic, history in self.throughput.items():
            due = self.next_due.get(topic)
            if due is not None and due <= now and topic in self.docs:
                self._show_topic(topic)  # a delayed job's time came: count it as pending
            else:
                pane.update_rates(topic, history.rates(now))
        if clock_bound(self.spec):
            self.refresh_jobs()
            return
        timeout = self.visibility_timeout()
        first, last = self.table.rows_in_sight()
        self.table.update_rows(
            [job_row(job, now, timeout, self.texts.get(job)) for job in self.shown[first:last]]
        )
        doc = self.docs.get(self.selected) if self.selected else None
        if doc is not None:
            self._label_tabs(doc, now, timeout)

    def visibility_timeout(self) -> float:
        """The selected topic's visibility timeout: its own setting, else the broker's."""
        doc = self.docs.get(self.selected) if self.selected else None
        own = doc.settings.visibility_timeout if doc and doc.settings else None
        return self.status.visibility_timeout if own is None else own

    # --- data out -----------------------------------------------------------------------

    def refresh_jobs(self) -> None:
        doc = self.docs.get(self.selected) if self.selected else None
        now = self.clock()
        timeout = self.visibility_timeout()
        self.shown, win = view_window(
            doc,
            self.spec,
            now,
            timeout,
            start=self.window_start,
            cap=self.services.row_cap,
            texts=self.texts,
        )
        self.window_start = win.start
        rows = [job_row(job, now, timeout, self.texts.get(job)) for job in self.shown]
        self.table.show(rows, COLUMNS[self.spec.kind])
        self.table.loading = self.selected in self.loading_topics
        if self.selected is None:
            line = "no topic yet: enqueue one with e"
        elif self.selected in self.loading_topics:
            line = f"{self.selected} · loading its document…"
        else:
            line = f"{self.selected} · {self.spec.describe()} · {win.describe()}"
        # Text, not markup: the line holds user data and the window's `[ and ]` hint.
        if line != self.status_line:
            self.status_line = line
            self.query_one("#view-status", Static).update(Text(line))
        if doc is not None:
            self._label_tabs(doc, now, timeout)

    def _label_tabs(self, doc: TopicDocument, now: datetime, timeout: float) -> None:
        counts = {
            "stale": len(select_jobs(doc.jobs, ViewSpec(ViewKind.STALE), now, timeout)),
            "dead": sum(job.status is JobStatus.DEAD for job in doc.jobs),
            "delayed": sum(is_delayed(job, now) for job in doc.jobs),
        }
        for tab_id, count in counts.items():
            tab = self.query_one(f"#{tab_id}", Tab)
            label = VIEW_LABELS[tab_id] + (f" ({count})" if count else "")
            if tab.label_text != label:
                tab.label = label

    def current_job(self) -> Job | None:
        job_id = self.table.current_job_id
        doc = self.docs.get(self.selected) if self.selected else None
        if job_id is None or doc is None:
            return None
        return next((job for job in doc.jobs if job.id == job_id), None)

    # --- actions ------------------------------------------------------------------------

    def _usable(self) -> bool:
        if self.link.status.usable:
            return True
        self.notify(self.link.status.refusal(), title="Broker unavailable", severity="error")
        return False

    def _job_for(self, verb: str) -> tuple[str, Job] | None:
        """The selected topic and job an action applies to, or None after saying why."""
        if not self._usable():
            return None
        job = self.current_job()
        if self.selected is None or job is None:
            self.notify(f"Nothing to {verb}: select a job in the table first", severity="warning")
            return None
        return self.selected, job

    def action_enqueue(self) -> None:
        if not self._usable():
            return
        if self.selected is not None:
            self.app.push_screen(EnqueueScreen(self.selected), self._enqueue_done)
            return

        def with_topic(name: str | None) -> None:
            if not name:
                return
            try:
                topic = validate_topic(name)
            except InvalidTopicName as exc:
                self.notify(str(exc), severity="error")
                return
            self.app.push_screen(EnqueueScreen(topic), self._enqueue_done)

        self.app.push_screen(PromptScreen("Topic to enqueue on", placeholder="orders"), with_topic)

    def _enqueue_done(self, request: Enqueue | None) -> None:
        if request is not None:
            self.send_action(request)

    def action_claim(self) -> None:
        if not self._usable():
            return
        if self.selected is None:
            self.notify("Nothing to claim: no topic yet", severity="warning")
            return
        self.send_action(Claim(self.selected, self.services.worker_id))

    def action_ack(self) -> None:
        if target := self._job_for("ack"):
            self.send_action(Ack(target[0], target[1].id))

    def action_nack(self) -> None:
        if target := self._job_for("nack"):
            self.app.push_screen(NackScreen(target[0], target[1].id), self._nack_done)

    def _nack_done(self, request: Nack | None) -> None:
        if request is not None:
            self.send_action(request)

    def action_requeue(self) -> None:
        if target := self._job_for("requeue"):
            self.send_action(Requeue(target[0], target[1].id))

    def action_delete(self) -> None:
        target = self._job_for("delete")
        if target is None:
            return
        topic, job = target

        question = f"Delete job {job.id} ({job.status.value}) from {topic}?"
        self._confirm_then(question, Delete(topic, job.id))

    def _topic_for(self, verb: str) -> tuple[str, TopicDocument] | None:
        """The selected topic and its document, or None after saying why."""
        if not self._usable():
            return None
        doc = self.docs.get(self.selected) if self.selected else None
        if self.selected is None or doc is None:
            self.notify(f"Nothing to {verb}: select a topic first", severity="warning")
            return None
        return self.selected, doc

    def _confirm_then(self, question: str, action: Action) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.send_action(action)

        self.app.push_screen(ConfirmScreen(question), confirmed)

    def action_purge(self) -> None:
        target = self._topic_for("purge")
        if target is None:
            return
        topic, doc = target
        status = JobStatus.DEAD.value if self.spec.kind is ViewKind.DEAD else self.spec.status
        if status is not None and status not in JobStatus.__members__.values():
            self.notify(f"{status} jobs are pending ones: filter by pending to purge them")
            return
        count = sum(1 for job in doc.jobs if status is None or job.status.value == status)
        which = f"{status} jobs" if status else "jobs"
        question = f"Purge all {count:,} {which} of {topic}? This cannot be undone."
        self._confirm_then(question, Purge(topic, status))

    def action_requeue_dead(self) -> None:
        target = self._topic_for("requeue")
        if target is None:
            return
        topic, doc = target
        count = sum(1 for job in doc.jobs if job.status is JobStatus.DEAD)
        question = f"Requeue all {count:,} dead jobs of {topic} (attempts reset)?"
        self._confirm_then(question, RequeueDead(topic))

    def action_pause(self) -> None:
        target = self._topic_for("pause")
        if target is None:
            return
        topic, doc = target
        if doc.settings is not None and doc.settings.paused:
            question = f"Resume {topic}? Waiting workers get its jobs again."
            self._confirm_then(question, ChangeSettings(topic, {"paused": False}))
        else:
            question = f"Pause {topic}? Claims will find nothing; enqueues still land."
            self._confirm_then(question, ChangeSettings(topic, {"paused": True}))

    def _client_for(self, what: str) -> tuple[str, Client] | None:
        """The selected topic and a client to ask about it, or None after saying why."""
        client = self.link.usable_client()
        if self.selected is None or client is None:
            reason = "select a topic first" if client else self.link.status.refusal()
            self.notify(f"No {what} to show: {reason}", severity="warning")
            return None
        return self.selected, client

    def action_settings(self) -> None:
        if target := self._client_for("settings"):
            self.app.push_screen(SettingsScreen(*target), self._settings_done)

    def _settings_done(self, request: ChangeSettings | None) -> None:
        if request is not None:
            self.send_action(request)

    def action_workers(self) -> None:
        if target := self._client_for("workers"):
            self.app.push_screen(WorkersScreen(*target, self.services.poll_interval))

    def action_detail(self) -> None:
        job = self.current_job()
        if self.selected is None or job is None:
            self.notify("No job selected", severity="warning")
            return
        self.app.push_screen(JobDetailScreen(self.selected, job))

    def action_view(self, kind: str) -> None:
        self.query_one("#views", Tabs).active = kind

    def action_filter(self) -> None:
        following = STATUS_CYCLE[(STATUS_CYCLE.index(self.spec.status) + 1) % len(STATUS_CYCLE)]
        self.spec = replace(self.spec, status=following)
        self.window_start = 0
        if self.spec.kind is not ViewKind.JOBS:
            self.action_view(ViewKind.JOBS.value)
        self.refresh_jobs()

    def action_search(self) -> None:
        """The prompt opens empty: the current search is in the status line. Enter applies
        the text typed; Esc (like an empty text) clears the search."""

        def apply(text: str | None) -> None:
            self.spec = replace(self.spec, search=text or "")
            self.window_start = 0
            self.refresh_jobs()

        shown = f" (now {self.spec.search!r})" if self.spec.search else ""
        prompt = PromptScreen(f"Search job id or payload{shown}; esc or empty clears")
        self.app.push_screen(prompt, apply)

    def action_sort(self) -> None:
        following = SORT_CYCLE[(SORT_CYCLE.index(self.spec.sort) + 1) % len(SORT_CYCLE)]
        if self.spec.column is not None:
            following = SortOrder.QUEUE  # from a clicked column back to the cycle's start
        self.spec = replace(self.spec, sort=following, column=None, descending=False)
        self.refresh_jobs()

    @on(DataTable.HeaderSelected, "#jobs-table")
    def sort_by_column(self, message: DataTable.HeaderSelected) -> None:
        """A click on a column header sorts by it; a second click, the other way round."""
        column = str(message.column_key.value)
        descending = self.spec.column == column and not self.spec.descending
        self.spec = replace(self.spec, column=column, descending=descending)
        self.refresh_jobs()

    def action_filter_topics(self) -> None:
        pane = self.query_one(TopicsPane)

        def apply(text: str | None) -> None:
            pane.set_filter(text or "")

        shown = f" (now {pane.filter_text!r})" if pane.filter_text else ""
        self.app.push_screen(
            PromptScreen(f"Show topics containing{shown}; esc or empty clears"), apply
        )

    def action_window(self, step: int) -> None:
        self.window_start = max(0, self.window_start + step * (self.services.row_cap // 2))
        self.refresh_jobs()

    def action_history(self) -> None:
        if self.selected is None or self.selected not in self.throughput:
            self.notify("No topic selected", severity="warning")
            return
        screen = HistoryScreen(self.selected, self.throughput[self.selected], self.clock())
        self.app.push_screen(screen)

    def action_export(self) -> None:
        doc = self.docs.get(self.selected) if self.selected else None
        if doc is None:
            self.notify("Nothing to export: no topic document shown", severity="warning")
            return
        now = self.clock()
        jobs = select_jobs(doc.jobs, self.spec, now, self.visibility_timeout(), self.texts)
        try:
            path = export_view(self.services.export_dir, doc, self.spec, jobs, now)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Exported {len(jobs):,} jobs to {path}", title="Export", timeout=8)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS, HELP_NOTES))

    def commands(self) -> Iterable[SystemCommand]:
        """Command palette entries: one per action, with its key."""
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and not binding.action.startswith("app."):
                note = HELP_NOTES.get(binding.action, "")
                run = partial(self.run_action, binding.action)
                key = self.app.get_key_display(binding)
                yield SystemCommand(binding.description, f"key {key} · {note}", run)
