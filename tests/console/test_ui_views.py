"""The console's newer views against a real broker: delayed jobs (counts, the delayed view,
how the jobs view shows them), topics sorted naturally and filtered, sorting by a click on
a column header, and the loading indicator of a topic whose document is still being read.
Storage (or the broker) is the judge of what an action did."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Static

from common.keys import topic_key
from common.models import JobStatus, dump_document
from common.store import MemoryStore, Object
from console.app import ConsoleApp
from console.screens.history import HistoryScreen
from console.screens.prompt import PromptScreen
from console.settings import ConsoleSettings
from console.widgets.topics import TopicsPane
from tests.console.docs import at, document, job
from tests.console.pilot import SIZE, Notes, broker_line, cell, main_screen, row_ids, table
from tests.console.pilot import wait_until as until
from tests.console.test_snapshots import screen_text
from tests.console.test_ui_broker import enqueue, localfs_console, stored, stored_job

P = JobStatus.PENDING
NO_BROKER = "http://127.0.0.1:9"


def pane(app: ConsoleApp) -> TopicsPane:
    return main_screen(app).query_one(TopicsPane)


def pane_cell(app: ConsoleApp, topic: str, column: str) -> str:
    return str(pane(app).get_cell(topic, column))


def status_line(app: ConsoleApp) -> str:
    return str(main_screen(app).query_one("#view-status", Static).render())


async def click_header(pilot: Any, widget: DataTable[Any], column: str) -> None:
    """A real click on a column's header cell (the offset is computed from the widths).
    Call it once the layout has settled (the header grows when the broker is known)."""
    x = 0
    for key, col in widget.columns.items():
        if key.value == column:
            break
        x += col.get_render_width(widget)
    inside = widget.content_region.offset - widget.region.offset
    assert await pilot.click(widget, offset=(inside.x + x + 1, inside.y))


async def test_delayed_jobs_are_counted_listed_by_time_and_shown_as_delayed(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "now")
    for job_id, delay in (("later", 600), ("soon", 300)):
        body = {"payload": {"n": job_id}, "id": job_id, "delay_seconds": delay}
        status, reply = daemon.request("POST", "/topics/orders/enqueue", json=body)
        assert status == 201, reply
    app = localfs_console(tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: len(row_ids(app)) == 3, what="rows")
        assert pane_cell(app, "orders", "pending") == "1"
        assert pane_cell(app, "orders", "delayed") == "2"
        assert cell(app, "soon", "status") == "delayed"
        assert cell(app, "now", "status") == "pending"

        await pilot.press("4")  # the delayed view: soonest first, with when each is due
        await until(pilot, lambda: row_ids(app) == ["soon", "later"], what="delayed view")
        assert cell(app, "soon", "due").startswith(("4m", "5m"))
        available = stored_job(tmp_path, "soon").available_at  # type: ignore[union-attr]
        assert available is not None and cell(app, "soon", "available_at").startswith(
            available.strftime("%Y-%m-%dT%H:%M:%S")
        )
        assert "4 Delayed (2)" in str(main_screen(app).query_one("#delayed").render())

        # Claim takes the job available now; the delayed ones stay as they are.
        await pilot.press("1", "c")
        await until(pilot, lambda: notes.find("Claimed job now"), what="claimed 'now'")
        assert stored_job(tmp_path, "soon").status is JobStatus.PENDING  # type: ignore[union-attr]
        await pilot.press("c")
        await until(pilot, lambda: notes.find("Nothing to claim on orders"), what="nothing")
        assert stored_job(tmp_path, "later").claimed_by is None  # type: ignore[union-attr]

        # The filter has a delayed choice between pending and claimed.
        await pilot.press("f", "f")
        await until(pilot, lambda: row_ids(app) == ["later", "soon"], what="filter: delayed")
        assert "status=delayed" in status_line(app)


async def test_a_delayed_job_turns_pending_when_its_time_comes(tmp_path: Path) -> None:
    store = MemoryStore()
    later = job("later", P)
    later.available_at = at(45)
    await store.put_if(topic_key("orders"), dump_document(document("orders", [later])), None)
    now = [at(40)]
    settings = ConsoleSettings(broker=NO_BROKER, dir=tmp_path, poll_interval=0.1)
    app = ConsoleApp(settings, store=store, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["later"])
        assert cell(app, "later", "status") == "delayed"
        assert pane_cell(app, "orders", "delayed") == "1"
        now[0] = at(46)  # no new document: the clock alone moves it
        await until(pilot, lambda: cell(app, "later", "status") == "pending", what="due")
        await until(pilot, lambda: pane_cell(app, "orders", "pending") == "1", what="count")
        assert pane_cell(app, "orders", "delayed") == "0"


async def test_topics_sort_naturally_filter_and_sort_by_a_clicked_header(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    for topic, jobs in (("t-10", 1), ("t-2", 3), ("t-1", 2), ("mail", 1)):
        for n in range(jobs):
            enqueue(daemon, f"{topic}-j{n}", topic=topic)
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: len(pane(app).shown_topics) == 4, what="topics")
        assert pane(app).shown_topics == ["mail", "t-1", "t-2", "t-10"]

        await click_header(pilot, pane(app), "pending")  # most pending first
        await until(pilot, lambda: pane(app).shown_topics == ["t-2", "t-1", "t-10", "mail"])
        await click_header(pilot, pane(app), "pending")  # again: fewest first
        await until(pilot, lambda: pane(app).shown_topics == ["mail", "t-10", "t-1", "t-2"])
        await click_header(pilot, pane(app), "topic")
        await until(pilot, lambda: pane(app).shown_topics == ["mail", "t-1", "t-2", "t-10"])

        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"t-1", "enter")
        await until(pilot, lambda: pane(app).shown_topics == ["t-1", "t-10"], what="filtered")
        assert pane(app).border_title == "topics matching 't-1': 2 of 4"
        enqueue(daemon, "new", topic="t-100")  # a new topic is filtered as it arrives
        await until(pilot, lambda: pane(app).shown_topics == ["t-1", "t-10", "t-100"])
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("escape")  # clears the filter
        await until(pilot, lambda: len(pane(app).shown_topics) == 5, what="all topics")
        assert not pane(app).border_title


async def test_a_click_on_a_jobs_column_header_sorts_by_it(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    for job_id in ("j-10", "j-9", "j-100"):  # enqueued (created) in this order
        enqueue(daemon, job_id)
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["j-10", "j-9", "j-100"])  # queue order
        await click_header(pilot, table(app), "id")
        await until(pilot, lambda: row_ids(app) == ["j-9", "j-10", "j-100"], what="id ↑")
        assert "sort: id ↑" in status_line(app)
        await click_header(pilot, table(app), "id")
        await until(pilot, lambda: row_ids(app) == ["j-100", "j-10", "j-9"], what="id ↓")
        await click_header(pilot, table(app), "age")  # youngest first
        await until(pilot, lambda: row_ids(app) == ["j-100", "j-9", "j-10"], what="age ↑")
        # The order holds as the document changes: a claim keeps the rows where they are.
        status, _ = daemon.request("POST", "/topics/orders/claim", json={"worker_id": "w"})
        assert status == 200
        await until(pilot, lambda: cell(app, "j-10", "status") == "claimed", what="claimed")
        assert row_ids(app) == ["j-100", "j-9", "j-10"]
        await pilot.press("o")  # the sort key goes back to queue order
        await until(pilot, lambda: row_ids(app) == ["j-10", "j-9", "j-100"], what="queue")


class GatedStore(MemoryStore):
    """Holds every read of one key until the test opens the gate."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.gate = asyncio.Event()

    async def get(self, key: str) -> Object:
        if key == self.key:
            await self.gate.wait()
        return await super().get(key)

    async def get_if_changed(self, key: str, etag: str | None) -> Object | None:
        if key == self.key:
            await self.gate.wait()
        return await super().get_if_changed(key, etag)


async def test_a_topic_being_read_shows_a_loading_indicator(tmp_path: Path) -> None:
    store = GatedStore(topic_key("big"))
    doc = document("big", [job(f"j{i:04}", P) for i in range(2000)])
    await store.put_if(topic_key("big"), dump_document(doc), None)
    settings = ConsoleSettings(broker=NO_BROKER, dir=tmp_path, poll_interval=0.1)
    app = ConsoleApp(settings, store=store, clock=lambda: at(40))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: pane(app).shown_topics == ["big"], what="topic listed")
        await until(pilot, lambda: table(app).loading, what="loading indicator")
        assert pane_cell(app, "big", "rate") == "loading…"
        assert "big · loading its document…" in status_line(app)
        store.gate.set()
        await until(pilot, lambda: not table(app).loading, what="indicator gone")
        await until(pilot, lambda: pane_cell(app, "big", "pending") == "2,000", what="counts")
        assert len(row_ids(app)) == 1000


async def test_export_writes_the_current_view_to_a_json_file(
    tmp_path: Path, daemon_factory: Any
) -> None:
    data = tmp_path / "data"
    daemon = daemon_factory("--backend", "localfs", "--dir", str(data))
    for job_id in ("a1", "a2", "b1"):
        enqueue(daemon, job_id, payload={"item": job_id})
    status, _ = daemon.request("POST", "/topics/orders/claim", json={"worker_id": "w"})
    assert status == 200
    exports = tmp_path / "exports"
    app = localfs_console(data, export_dir=exports)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(row_ids(app)) == 3, what="rows")
        await until(pilot, lambda: cell(app, "a1", "status") == "claimed", what="claimed")
        await pilot.press("f")  # pending only: a2 and b1
        await until(pilot, lambda: row_ids(app) == ["a2", "b1"], what="filtered")
        await pilot.press("x")
        await until(pilot, lambda: notes.find("Exported 2 jobs to "), what="notification")
        path = Path(notes.find("Exported 2 jobs to ")[0][0].removeprefix("Exported 2 jobs to "))
        assert path.parent == exports and path.name.startswith("sq-orders-jobs-")
        body = json.loads(path.read_bytes())  # noqa: ASYNC240 (a small file, in a test)
        assert body["view"] == "jobs · status=pending" and body["count"] == 2
        assert [j["id"] for j in body["jobs"]] == ["a2", "b1"]
        assert body["jobs"][0]["payload"] == {"item": "a2"}
        assert body["generation"] == stored(data).generation


async def test_history_shows_what_was_enqueued_and_completed_per_window(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "before")  # counted before the console looked: not in its history
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["before"], what="first document")
        for job_id in ("j1", "j2", "j3"):
            enqueue(daemon, job_id)
        status, _ = daemon.request("POST", "/topics/orders/claim", json={"worker_id": "w"})
        assert status == 200
        status, _ = daemon.request("POST", "/topics/orders/ack", json={"job_id": "before"})
        assert status == 200
        await until(pilot, lambda: cell(app, "before", "status") == "completed", what="acked")
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history")
        await until(pilot, lambda: "last 60 min" in screen_text(app), what="drawn")
        text = screen_text(app)  # what the terminal shows
        lines = [line.split("last", 1)[1].split() for line in text.splitlines() if " last " in line]
        lines = [["last", *line[:-1]] for line in lines]  # without the dialog's right border
        assert [line[:3] for line in lines] == [
            ["last", "5", "min"],
            ["last", "15", "min"],
            ["last", "60", "min"],
        ]
        assert all(line[4] == "3" and line[6] == "1" for line in lines), text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HistoryScreen))
