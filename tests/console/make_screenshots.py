"""Regenerate the README's console screenshots (`make screenshots`).

Starts a real broker on a temporary localfs directory, fills it with demo jobs over HTTP
(pending, claimed, completed and dead ones on three topics), drives sq-console headless
with Textual's Pilot and writes SVGs to screenshots/: overview, job detail, stale jobs,
delayed jobs and the enqueue dialog. Each SVG is also rendered to PNG (cairosvg) and the
PNG checked, since SVG renderers differ (one that trims spaces ran words together).

    python -m tests.console.make_screenshots [OUTPUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import TextArea

from console.app import ConsoleApp
from console.screens.detail import JobDetailScreen
from console.screens.enqueue import EnqueueScreen
from console.settings import ConsoleSettings
from console.widgets.topics import TopicsPane
from tests.support.daemon import Daemon, start_daemon

REPO = Path(__file__).resolve().parents[2]
SIZE = (140, 36)
VISIBILITY_TIMEOUT = 10  # short, so that claimed jobs turn late while the script runs
ITEMS = ["book", "lamp", "kettle", "chair", "desk", "pen", "mug", "rug", "clock", "vase"]


def call(daemon: Daemon, method: str, path: str, body: Any = None) -> Any:
    status, reply = daemon.request(method, path, json=body)
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {reply}")
    return reply


def demo_data(daemon: Daemon) -> None:
    """Three topics with jobs in every state; two workers hold leases on `orders`."""
    for n in range(40):
        payload = {"order": 1000 + n, "item": ITEMS[n % len(ITEMS)], "qty": n % 4 + 1}
        call(
            daemon,
            "POST",
            "/topics/orders/enqueue",
            {"payload": payload, "id": f"order-{1000 + n}"},
        )
    for n in range(12):
        payload = {"to": f"user{n}@example.com", "template": "welcome"}
        call(daemon, "POST", "/topics/emails/enqueue", {"payload": payload, "id": f"mail-{n:03}"})
    for n in range(4):
        call(daemon, "POST", "/topics/reports/enqueue", {"payload": f"monthly report {n + 1}"})
    for n, delay in enumerate((90, 600, 3600)):  # scheduled for later: the delayed view
        body = {"payload": f"reminder {n + 1}", "id": f"reminder-{n + 1}", "delay_seconds": delay}
        call(daemon, "POST", "/topics/reports/enqueue", body)

    for _ in range(12):  # completed work
        job = call(daemon, "POST", "/topics/orders/claim", {"worker_id": "worker-a"})["job"]
        call(daemon, "POST", "/topics/orders/ack", {"job_id": job["id"]})
    for _ in range(2):  # jobs that failed until they died
        while True:
            job = call(daemon, "POST", "/topics/orders/claim", {"worker_id": "worker-b"})["job"]
            done = call(
                daemon,
                "POST",
                "/topics/orders/nack",
                {
                    "job_id": job["id"],
                    "error": f"payment gateway timeout (order {job['id']})",
                    "delay_seconds": 0,  # at once, not after the backoff: the loop goes on
                },
            )["job"]
            if done["status"] == "dead":
                break
    for _ in range(6):
        job = call(daemon, "POST", "/topics/emails/claim", {"worker_id": "mailer-1"})["job"]
        call(daemon, "POST", "/topics/emails/ack", {"job_id": job["id"]})


def claim(daemon: Daemon, topic: str, worker: str, count: int) -> None:
    call(daemon, "POST", f"/topics/{topic}/claim", {"worker_id": worker, "count": count})


def traffic(daemon: Daemon, rounds: int) -> None:
    """Some enqueues and completions while the console watches, for the sparklines."""
    for n in range(rounds):
        for k in range(n % 3 + 1):
            body = {"payload": {"to": f"new{n}-{k}@example.com", "template": "reset"}}
            call(daemon, "POST", "/topics/emails/enqueue", body)
        job = call(daemon, "POST", "/topics/emails/claim", {"worker_id": "mailer-2"})["job"]
        call(daemon, "POST", "/topics/emails/ack", {"job_id": job["id"]})
        time.sleep(0.5)


async def until(pilot: Pilot[Any], condition: Callable[[], object], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not get there in time")
        await pilot.pause(0.1)


async def shoot(daemon: Daemon, data_dir: Path, out: Path) -> None:
    from tests.console.pilot import broker_line, main_screen, row_ids, table

    settings = ConsoleSettings(dir=data_dir, poll_interval=0.5)
    app = ConsoleApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        # Leases of two ages: the first batch is past half the visibility timeout when
        # the stale view is shot, the second is fresh.
        await asyncio.to_thread(claim, daemon, "orders", "worker-c", 3)
        claimed_at = time.monotonic()
        await until(pilot, lambda: "● connected" in broker_line(app))
        await until(pilot, lambda: main_screen(app).selected is not None)
        topics = main_screen(app).query_one(TopicsPane)
        await until(pilot, lambda: topics.row_count == 3)
        topics.move_cursor(row=topics.get_row_index("orders"))
        await until(pilot, lambda: main_screen(app).selected == "orders")

        await asyncio.to_thread(traffic, daemon, 8)
        wait = VISIBILITY_TIMEOUT * 0.6 - (time.monotonic() - claimed_at)
        await pilot.pause(max(0.0, wait))
        await asyncio.to_thread(claim, daemon, "orders", "worker-d", 2)
        await pilot.pause(1.5)  # the tail picks the claims up; ages tick
        app.save_screenshot("overview.svg", str(out))

        await pilot.press("2")
        await until(pilot, lambda: len(row_ids(app)) >= 3)
        app.save_screenshot("stale-jobs.svg", str(out))
        await pilot.press("1")

        await until(pilot, lambda: "order-1014" in row_ids(app))
        table(app).move_cursor(row=row_ids(app).index("order-1014"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        app.save_screenshot("job-detail.svg", str(out))
        await pilot.press("escape")

        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        # A payload missing its closing brace: the dialog says so and sends nothing.
        app.screen.query_one("#payload", TextArea).text = '{\n  "order": 2001,\n  "item": "lamp"\n'
        await pilot.click("#job-id")
        await pilot.press(*"order-2001")
        await pilot.click("#delay")
        await pilot.press(*"30", "ctrl+s")
        await until(pilot, lambda: app.screen.query_one("#form-error").has_class("-shown"))
        app.save_screenshot("enqueue.svg", str(out))
        await pilot.press("escape")

        topics.move_cursor(row=topics.get_row_index("reports"))
        await until(pilot, lambda: main_screen(app).selected == "reports")
        await pilot.press("4")
        await until(pilot, lambda: row_ids(app) == ["reminder-1", "reminder-2", "reminder-3"])
        await pilot.pause(1.0)  # the tabs' underline slides to the new tab
        app.save_screenshot("delayed-jobs.svg", str(out))


def check_png(svg: Path) -> Path:
    """Render an SVG screenshot to PNG beside it and check that it holds a picture."""
    import cairosvg
    from PIL import Image

    png = svg.with_suffix(".png")
    cairosvg.svg2png(url=str(svg), write_to=str(png), output_width=1400)
    with Image.open(png) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
        if image.width != 1400 or image.height < 400:
            raise RuntimeError(f"{png}: {image.width}x{image.height} is not a screen")
        if colors is not None and len(colors) < 16:
            raise RuntimeError(f"{png}: {len(colors)} colors, the picture is blank")
    return png


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sq-screens-") as tmp:
        data_dir = Path(tmp)
        daemon = start_daemon(
            "--backend",
            "localfs",
            "--dir",
            str(data_dir),
            "--visibility-timeout",
            str(VISIBILITY_TIMEOUT),
            "--max-attempts",
            "3",
        )
        try:
            demo_data(daemon)
            asyncio.run(shoot(daemon, data_dir, out))
        finally:
            daemon.stop()
    pngs = [check_png(svg) for svg in sorted(out.glob("*.svg"))]
    print(f"screenshots written to {out}: {len(pngs)} SVGs, each also as a checked PNG")


if __name__ == "__main__":
    main()
