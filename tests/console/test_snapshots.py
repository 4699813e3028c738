"""Snapshots of the main views: deterministic documents and clock, compared as text.

The screen is rendered to plain text (styles dropped) and compared with
tests/console/snapshots/<name>.txt. After a deliberate change of the layout, regenerate
with `SQ_UPDATE_SNAPSHOTS=1 pytest tests/console/test_snapshots.py` and review the diff.
There is no broker.json in the store, so the header is the same on every machine.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot

from common.client import Client
from common.keys import topic_key
from common.models import Counters, JobStatus, dump_document
from common.store import MemoryStore
from console.app import ConsoleApp
from console.screens.detail import JobDetailScreen
from console.screens.enqueue import EnqueueScreen
from console.screens.help import HelpScreen
from console.screens.settings import SettingsScreen
from console.settings import ConsoleSettings
from tests.console.docs import at, document, job
from tests.console.make_screenshots import check_png
from tests.console.pilot import row_ids, table
from tests.console.pilot import wait_until as until

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (120, 32)
NO_BROKER = "http://127.0.0.1:9"  # nothing listens on the discard port
C, D, P, OK = JobStatus.CLAIMED, JobStatus.DEAD, JobStatus.PENDING, JobStatus.COMPLETED


def screen_text(app: ConsoleApp) -> str:
    """What the terminal shows, as text. Textual exports only SVG, so this renders the
    compositor's frame (as App.export_screenshot does) through a recording console."""
    width, height = app.size
    out = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None)
    frame = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    out.print(frame)
    return "\n".join(line.rstrip() for line in out.export_text().splitlines()) + "\n"


async def assert_snapshot(pilot: Pilot[Any], app: ConsoleApp, name: str) -> None:
    """Compare once the screen has settled: a table measures its columns when idle."""
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("SQ_UPDATE_SNAPSHOTS") == "1":
        previous = ""
        while (text := screen_text(app)) != previous:
            previous = text
            await pilot.pause(0.5)
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: run with SQ_UPDATE_SNAPSHOTS=1"
    expected = path.read_text()
    with contextlib.suppress(AssertionError):
        await until(pilot, lambda: screen_text(app) == expected, what=f"snapshot {name}")
    diff = difflib.unified_diff(
        expected.splitlines(), screen_text(app).splitlines(), "expected", "shown", lineterm=""
    )
    assert not (lines := list(diff)), f"{name} differs from {path}:\n" + "\n".join(lines)


async def demo_store() -> MemoryStore:
    store = MemoryStore()
    orders = [
        job("order-1", OK, payload={"item": "book", "qty": 1}, attempts=1),
        job("order-2", C, payload={"item": "lamp", "qty": 2}, created=2, heartbeat=30),
        job("order-3", C, payload={"item": "desk"}, created=3, heartbeat=20, worker="worker-2"),
        job("order-4", C, payload={"item": "mug"}, created=4, heartbeat=4, worker="worker-2"),
        job("order-5", D, payload={"item": "rug"}, created=5, attempts=5, error="card declined"),
        job("order-6", P, payload={"item": "pen", "note": "gift wrap"}, created=6),
        job("order-7", P, payload="plain text payload", created=7),
    ]
    emails = [job(f"mail-{n}", P, payload={"to": f"u{n}@example.com"}) for n in range(3)]
    for doc in (
        document("orders", orders, counters=Counters(enqueued=7, completed=1, dead=1)),
        document("emails", emails),
    ):
        await store.put_if(topic_key(doc.topic), dump_document(doc), None)
    return store


async def run_view(
    name: str,
    steps: Callable[[Pilot[Any], ConsoleApp], Awaitable[None]],
    size: tuple[int, int] = SIZE,
) -> None:
    settings = ConsoleSettings(dir=Path("/srv/sq"), poll_interval=0.1, worker_id="ops@host")
    app = ConsoleApp(settings, store=await demo_store(), clock=lambda: at(40))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: "no broker" in screen_text(app), what="broker checked")
        await until(pilot, lambda: row_ids(app)[:1] == ["mail-0"], what="first topic")
        await steps(pilot, app)
        await assert_snapshot(pilot, app, name)


async def show_orders(pilot: Pilot[Any], app: ConsoleApp) -> None:
    await pilot.press("shift+tab")  # focus the topics pane; orders is the second topic
    await pilot.press("down")
    await until(pilot, lambda: row_ids(app)[:1] == ["order-1"], what="orders")
    await pilot.press("tab")  # back to the jobs table


async def test_overview_snapshot() -> None:
    await run_view("overview", show_orders)


@pytest.mark.parametrize("size", [(80, 24), (60, 16)], ids=["80x24", "60x16"])
async def test_small_terminal_snapshot(size: tuple[int, int]) -> None:
    """The footer keeps `? Help` and the jobs table keeps rows on small terminals."""

    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        lines = screen_text(app).splitlines()
        assert lines[-1].startswith("? Help"), lines[-1]
        assert any(line.startswith(" order-3  claimed") for line in lines), lines

    await run_view(f"overview-{size[0]}x{size[1]}", steps, size)


async def test_stale_view_snapshot() -> None:
    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        await pilot.press("2")
        await until(pilot, lambda: row_ids(app) == ["order-4", "order-3"], what="stale rows")

    await run_view("stale", steps)


async def test_dead_view_snapshot() -> None:
    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        await pilot.press("3")
        await until(pilot, lambda: row_ids(app) == ["order-5"], what="dead rows")

    await run_view("dead", steps)


async def test_job_detail_snapshot() -> None:
    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        table(app).move_cursor(row=row_ids(app).index("order-6"))
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))

    await run_view("detail", steps)


async def test_enqueue_dialog_snapshot() -> None:
    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        app.push_screen(EnqueueScreen("orders", payload='{"item": '))
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press("ctrl+s")

    await run_view("enqueue", steps)


@pytest.mark.parametrize("name", ["help"])
async def test_help_snapshot(name: str) -> None:
    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))

    await run_view(name, steps)


@pytest.mark.slow  # cairocffi runs ldconfig to find libcairo
async def test_a_screenshot_renders_to_a_png(tmp_path: Path) -> None:
    """What `make screenshots` does to each SVG: cairosvg renders it, the PNG is checked."""

    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        svg = tmp_path / "overview.svg"
        svg.write_text(app.export_screenshot())
        assert check_png(svg).stat().st_size > 10_000

    await run_view("overview", steps)


SETTINGS_VIEW = {
    "topic": "orders",
    "settings": {
        "visibility_timeout": 30.0,
        "max_attempts": 3,
        "completed_retention": 1000,
        "dead_retention": 10000,
        "retry_base": 1.0,
        "retry_cap": 300.0,
        "paused": True,
    },
    "overridden": ["max_attempts", "paused"],
}


@pytest.mark.parametrize("size", [(80, 24), (60, 16)], ids=["80x24", "60x16"])
async def test_settings_dialog_snapshot(size: tuple[int, int]) -> None:
    """The settings dialog fits small terminals: every field, its meaning and the buttons."""

    async def steps(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await show_orders(pilot, app)
        screen = SettingsScreen("orders", Client(NO_BROKER, retries=0))
        app.push_screen(screen)
        await until(pilot, lambda: "cannot read" in screen_text(app), what="the failed read")
        screen.show(SETTINGS_VIEW)  # what a broker answers, without the broker's ports

    await run_view(f"settings-{size[0]}x{size[1]}", steps, size)
