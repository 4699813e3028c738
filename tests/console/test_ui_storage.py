"""The console driven from documents written straight to a store, with no broker up:
what it shows, how it follows changes, and that it refuses actions."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console as RichConsole
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, Label, Static, TextArea
from textual.widgets.data_table import ColumnKey

from common.keys import topic_key
from common.models import JobStatus, TopicDocument, dump_document
from common.store import MemoryStore
from console.app import ConsoleApp
from console.model import ViewKind
from console.screens.detail import JobDetailScreen
from console.screens.enqueue import EnqueueScreen
from console.screens.help import HelpScreen
from console.screens.prompt import PromptScreen
from console.settings import ConsoleSettings
from tests.console.docs import at, document, job
from tests.console.pilot import SIZE, Notes, broker_line, cell, main_screen, row_ids, table
from tests.console.pilot import wait_until as until

C, D, P = JobStatus.CLAIMED, JobStatus.DEAD, JobStatus.PENDING
NO_BROKER = "http://127.0.0.1:9"  # nothing listens on the discard port


def plain(renderable: object) -> str:
    out = RichConsole(width=160, record=True, file=io.StringIO())
    out.print(renderable)
    return out.export_text()


async def write(store: MemoryStore, doc: TopicDocument) -> None:
    key = topic_key(doc.topic)
    current = store._objects.get(key)
    await store.put_if(key, dump_document(doc), current.etag if current else None)


def console(store: MemoryStore, tmp_path: Path, **flags: Any) -> ConsoleApp:
    settings = ConsoleSettings(broker=NO_BROKER, dir=tmp_path, poll_interval=0.1, **flags)
    return ConsoleApp(settings, store=store, clock=lambda: at(40))


async def test_jobs_follow_the_document_in_place_and_the_cursor_stays_on_its_job(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    jobs = [job("a", P), job("b", P, created=1), job("c", P, created=2), job("d", P, created=3)]
    await write(store, document("orders", jobs))
    app = console(store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["a", "b", "c", "d"], what="first rows")
        await pilot.press("down", "down")
        assert table(app).current_job_id == "c"
        row_b = table(app).rows["b"]  # type: ignore[index]

        # "a" is trimmed, "c" is claimed, "e" arrives: the cursor must stay on "c".
        changed = [job("b", P, created=1), job("c", C, created=2, heartbeat=30)]
        changed += [job("d", P, created=3), job("e", P, created=4)]
        await write(store, document("orders", changed, generation=2))
        await until(pilot, lambda: row_ids(app) == ["b", "c", "d", "e"], what="changed rows")
        assert cell(app, "c", "status") == "claimed" and cell(app, "c", "claimed_by") == "worker-1"
        assert table(app).current_job_id == "c"
        assert table(app).rows["b"] is row_b  # type: ignore[index]  # updated, not rebuilt


async def test_filter_search_and_sort_shape_the_table(tmp_path: Path) -> None:
    store = MemoryStore()
    jobs = [
        job("p1", P, payload={"item": "book"}),
        job("c1", C, created=1, heartbeat=5),
        job("d1", D, created=2),
        job("p2", P, created=3, payload={"item": "lamp"}),
    ]
    await write(store, document("orders", jobs))
    app = console(store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(row_ids(app)) == 4)
        await pilot.press("f")  # pending
        await until(pilot, lambda: row_ids(app) == ["p1", "p2"])
        await pilot.press("f")  # delayed: none
        await until(pilot, lambda: row_ids(app) == [])
        await pilot.press("f")  # claimed
        await until(pilot, lambda: row_ids(app) == ["c1"])
        await pilot.press("f", "f", "f")  # completed, dead, all
        await until(pilot, lambda: len(row_ids(app)) == 4)

        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"lamp", "enter")
        await until(pilot, lambda: row_ids(app) == ["p2"])
        status_line = main_screen(app).query_one("#view-status", Static)
        assert "search='lamp'" in str(status_line.render())
        # The prompt opens empty, not with the search in force; enter on empty clears it.
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        assert app.screen.query_one("#prompt", Input).value == ""
        await pilot.press("enter")
        await until(pilot, lambda: len(row_ids(app)) == 4)
        # Esc clears the search too, and closes the prompt.
        await pilot.press("slash", *"book", "enter")
        await until(pilot, lambda: row_ids(app) == ["p1"])
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"lam", "escape")
        await until(pilot, lambda: len(row_ids(app)) == 4)
        assert not isinstance(app.screen, PromptScreen)
        assert "search" not in str(status_line.render())

        await pilot.press("o", "o")  # oldest first, then newest first
        await until(pilot, lambda: row_ids(app) == ["p2", "d1", "c1", "p1"])


async def test_stale_and_dead_views(tmp_path: Path) -> None:
    store = MemoryStore()
    jobs = [
        job("fresh", C, heartbeat=35),
        job("late", C, heartbeat=22),
        job("stale", C, heartbeat=0),
        job("dead", D, error="worker crashed: out of memory"),
    ]
    await write(store, document("orders", jobs))
    app = console(store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(row_ids(app)) == 4)
        await pilot.press("2")
        await until(pilot, lambda: row_ids(app) == ["stale", "late"], what="stale view")
        await pilot.press("3")
        await until(pilot, lambda: row_ids(app) == ["dead"], what="dead view")
        assert cell(app, "dead", "last_error") == "worker crashed: out of memory"


async def test_job_detail_shows_every_field_and_the_payload(tmp_path: Path) -> None:
    store = MemoryStore()
    await write(store, document("orders", [job("a", P, payload={"item": "book", "qty": 2})]))
    app = console(store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["a"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        payload = str(app.screen.query_one("#payload", Static).render())
        assert '"item": "book"' in payload and '"qty": 2' in payload
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, JobDetailScreen))


async def test_without_a_broker_actions_are_refused_and_the_header_says_so(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    await write(store, document("orders", [job("a", P)]))
    app = console(store, tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● unreachable" in broker_line(app), what="header")
        await until(pilot, lambda: row_ids(app) == ["a"])
        for key in "ecanrd":
            await pilot.press(key)
        refusals = notes.find("Action refused: broker http://127.0.0.1:9 is unreachable")
        assert len(refusals) == 6 and {severity for _, severity in refusals} == {"error"}
        assert not isinstance(app.screen, EnqueueScreen)


async def test_enqueue_form_shows_bad_json_inline_and_stays_open(tmp_path: Path) -> None:
    app = console(MemoryStore(), tmp_path)
    results: list[object] = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(EnqueueScreen("orders", payload="{"), results.append)
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#form-error", Static)
        await until(pilot, lambda: "payload is not valid JSON" in str(error.render()))
        assert isinstance(app.screen, EnqueueScreen) and results == []
        await pilot.press("end", "}")  # fixing the payload clears the error
        await until(pilot, lambda: str(error.render()) == "")


async def test_enqueue_form_tab_moves_between_labelled_fields(tmp_path: Path) -> None:
    app = console(MemoryStore(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(EnqueueScreen("orders", payload='{"a": 1}'))
        await until(pilot, lambda: isinstance(app.focused, TextArea), what="payload focused")
        screen = app.screen
        payload = screen.query_one("#payload", TextArea)
        await pilot.press("tab")
        await until(pilot, lambda: app.focused is screen.query_one("#job-id", Input))
        await pilot.press("tab")
        await until(pilot, lambda: app.focused is screen.query_one("#delay", Input))
        assert payload.text == '{"a": 1}'  # no spaces inserted by tab
        await pilot.press("shift+tab", "shift+tab")
        await until(pilot, lambda: app.focused is payload, what="back to the payload")
        labels = [str(label.render()) for label in screen.query(Label)]
        assert any(text.startswith("Job id") for text in labels), labels
        assert any(text.startswith("Delay in seconds") for text in labels), labels


async def test_a_big_topic_is_windowed_at_the_row_cap(tmp_path: Path) -> None:
    store = MemoryStore()
    await write(store, document("big", [job(f"j{i:05}", P, created=i) for i in range(10_000)]))
    app = console(store, tmp_path, row_cap=2000)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: table(app).row_count == 2000, what="first window")
        line = main_screen(app).query_one("#view-status", Static)
        assert "(8,000 hidden; [ and ] move the window)" in str(line.render())
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: row_ids(app)[0] == "j01000", what="next window")


async def test_help_and_the_command_palette_list_every_action(tmp_path: Path) -> None:
    app = console(MemoryStore(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        titles = {command.title for command in app.get_system_commands(app.screen)}
        wanted = {"Enqueue", "Claim", "Ack", "Nack", "Requeue", "Delete", "Help", "Stale", "Dead"}
        assert wanted <= titles

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = plain(app.screen.query_one("#keys", Static).content)
        assert "Enqueue" in keys and "Delete" in keys and "pending or dead; asks first" in keys
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Dead")
        hits = app.screen.query_one(CommandList)
        await until(
            pilot,
            lambda: hits.option_count and "Dead" in str(hits.get_option_at_index(0).prompt),
            what="the palette offers the dead view",
        )
        await pilot.press("enter")
        await until(pilot, lambda: main_screen(app).spec.kind is ViewKind.DEAD, what="dead view")


async def test_a_column_widens_for_a_longer_value_arriving_later(tmp_path: Path) -> None:
    store = MemoryStore()
    await write(store, document("orders", [job("a", P)]))
    app = console(store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["a"])
        worker = "a-rather-long-worker-name@host-01"
        await write(store, document("orders", [job("a", C, worker=worker)], generation=2))
        await until(pilot, lambda: cell(app, "a", "claimed_by") == worker)
        column = table(app).columns[ColumnKey("claimed_by")]
        await until(
            pilot,
            lambda: column.get_render_width(table(app)) > len(worker),
            what="the column measured again",  # when the table is next idle
        )


async def test_the_clock_redraws_only_the_ages_in_sight(tmp_path: Path) -> None:
    store = MemoryStore()
    await write(store, document("orders", [job(f"j{i:03}", P) for i in range(200)]))
    now = [at(30)]
    settings = ConsoleSettings(broker=NO_BROKER, dir=tmp_path, poll_interval=0.1)
    app = ConsoleApp(settings, store=store, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(row_ids(app)) == 200, what="rows")
        assert cell(app, "j000", "age") == cell(app, "j199", "age") == "30s"
        rows_before = dict(table(app).rows)
        now[0] = at(35)
        await until(pilot, lambda: cell(app, "j000", "age") == "35s", what="a tick")
        # The last row is out of sight: the tick left it alone, and no row was rebuilt.
        assert cell(app, "j199", "age") == "30s"
        assert all(table(app).rows[key] is row for key, row in rows_before.items())
        await pilot.press("ctrl+end")  # in sight now: the next tick brings its age up to date
        await until(pilot, lambda: cell(app, "j199", "age") == "35s", what="scrolled row")
