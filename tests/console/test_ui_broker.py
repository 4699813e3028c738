"""sq-console against a real broker process: keys act on jobs, storage is the judge.

Each test starts `simplequeued` as a subprocess (tests/support/daemon.py), drives the
console with Pilot, and checks the topic document in storage (or the broker's answer),
never the console's own idea of it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from textual.widgets import Static, TextArea

from common.keys import log_key, topic_key
from common.models import (
    Job,
    JobStatus,
    TopicDocument,
    dump_document,
    format_time,
    load_document,
    utc_now,
)
from common.store.localfs import LocalFSStore
from common.topic_log import DocumentReader, merge_document, read_topic
from console.app import ConsoleApp
from console.screens.confirm import ConfirmScreen
from console.screens.enqueue import EnqueueScreen
from console.screens.nack import NackScreen
from console.settings import ConsoleSettings
from tests.console.pilot import SIZE, Notes, broker_line, header_text, main_screen, row_ids, table
from tests.console.pilot import wait_until as until

WORKER = "console-test@host"
CHECKPOINTED = ["--checkpoint-bytes", "4096"]  # checkpoints every few commits


def stored(root: Path, topic: str = "orders") -> TopicDocument:
    """The topic as any reader reads it (the pointer's checkpoint and the log after it)."""

    async def read() -> bytes:
        async with LocalFSStore(root) as store:
            return (await DocumentReader(store).get(topic)).data

    with ThreadPoolExecutor(1) as pool:  # callers may run inside an event loop
        data = pool.submit(asyncio.run, read()).result()
    return load_document(TopicDocument, topic_key(topic), data)


def stored_job(root: Path, job_id: str, topic: str = "orders") -> Job | None:
    return next((job for job in stored(root, topic).jobs if job.id == job_id), None)


def enqueue(daemon: Any, job_id: str, payload: Any = None, topic: str = "orders") -> None:
    body = {"payload": {"n": job_id} if payload is None else payload, "id": job_id}
    status, reply = daemon.request("POST", f"/topics/{topic}/enqueue", json=body)
    assert status in (200, 201), reply


async def write_directly(root: Path, topic: str, job_id: str) -> None:
    """Append a pending job with a log object of our own, as another writer would."""
    async with LocalFSStore(root) as store:
        current = await read_topic(store, topic)
        doc = load_document(TopicDocument, topic_key(topic), merge_document(current))
        job = Job(id=job_id, status=JobStatus.PENDING, created_at=utc_now())
        entry = {
            "format": 3,
            "topic": topic,
            "generation": current.generation + 1,
            "parent": current.token,
            "token": secrets.token_hex(8),
            "writer": "another",
            "updated_at": format_time(utc_now()),
            "counters": {**doc.counters.model_dump(), "enqueued": doc.counters.enqueued + 1},
            "removed": [],
            "jobs": [job.model_dump(mode="json", exclude_none=True)],
        }
        await store.put_if(log_key(topic, current.generation + 1), orjson.dumps(entry), None)


def localfs_console(root: Path, **flags: Any) -> ConsoleApp:
    settings = ConsoleSettings(dir=root, poll_interval=0.2, worker_id=WORKER, **flags)
    return ConsoleApp(settings)


async def claimed_elsewhere(pilot: Any, app: ConsoleApp, daemon: Any, job_id: str) -> None:
    """Another client claims the next job, `job_id`; the console shows it without a key."""
    status, _ = daemon.request("POST", "/topics/orders/claim", json={"worker_id": "elsewhere"})
    assert status == 200
    await until(
        pilot,
        lambda: str(table(app).get_cell(job_id, "claimed_by")) == "elsewhere",
        what="tailed claim",
    )


async def select(pilot: Any, app: ConsoleApp, job_id: str) -> None:
    await until(pilot, lambda: job_id in row_ids(app), what=f"row {job_id}")
    table(app).move_cursor(row=row_ids(app).index(job_id))
    await pilot.pause()
    assert table(app).current_job_id == job_id


def job_is(root: Path, job_id: str, check: Callable[[Job], bool]) -> Callable[[], bool]:
    def holds() -> bool:
        job = stored_job(root, job_id)
        return job is not None and check(job)

    return holds


async def test_each_action_pressed_as_keys_changes_the_job_in_storage(
    tmp_path: Path, daemon_factory: Any
) -> None:
    # Nacked jobs come back at once, so the walk through the keys needs no waiting.
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), "--retry-base", "0")
    for job_id in ("j1", "j2", "j3"):
        enqueue(daemon, job_id)
    app = localfs_console(tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["j1", "j2", "j3"], what="rows")
        # Header fields are parted by a visible dot, so no two words run together.
        assert "● connected · broker " in broker_line(app)
        assert f" · {daemon.http_url} · active · ready" in broker_line(app)

        # claim takes the oldest pending job as --worker-id
        await pilot.press("c")
        claimed = job_is(tmp_path, "j1", lambda j: j.status is JobStatus.CLAIMED)
        await until(pilot, claimed, what="j1 claimed")
        assert stored_job(tmp_path, "j1").claimed_by == WORKER  # type: ignore[union-attr]
        await until(pilot, lambda: notes.find("Claimed job j1"), what="claim notification")

        # ack: claimed -> completed
        await select(pilot, app, "j1")
        await pilot.press("a")
        done = job_is(tmp_path, "j1", lambda j: j.status is JobStatus.COMPLETED)
        await until(pilot, done, what="j1 completed")

        # nack asks for an error and a delay: claimed -> pending, available later
        await pilot.press("c")
        await until(pilot, job_is(tmp_path, "j2", lambda j: j.status is JobStatus.CLAIMED))
        await select(pilot, app, "j2")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NackScreen))
        await pilot.press(*"gateway timeout", "tab", *"1", "enter")
        nacked = job_is(
            tmp_path,
            "j2",
            lambda j: (
                j.status is JobStatus.PENDING
                and j.last_error == "gateway timeout"
                and j.available_at is not None
            ),
        )
        await until(pilot, nacked, what="j2 nacked with an error and a delay")
        await until(pilot, lambda: notes.find("Nacked job j2: now pending, available in 1s"))
        delayed_until = stored_job(tmp_path, "j2").available_at  # type: ignore[union-attr]
        assert delayed_until is not None
        await until(pilot, lambda: utc_now() >= delayed_until, what="j2 available again")

        # requeue: claimed -> pending with attempts reset
        await pilot.press("c")
        await until(pilot, job_is(tmp_path, "j2", lambda j: j.status is JobStatus.CLAIMED))
        await until(pilot, lambda: stored_job(tmp_path, "j2").attempts == 2)  # type: ignore[union-attr]
        await select(pilot, app, "j2")
        await pilot.press("r")
        requeued = job_is(
            tmp_path, "j2", lambda j: j.status is JobStatus.PENDING and j.attempts == 0
        )
        await until(pilot, requeued, what="j2 requeued")

        # delete asks first; "n" keeps the job, "y" removes it
        await select(pilot, app, "j3")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: stored_job(tmp_path, "j3") is None, what="j3 deleted")
        await until(pilot, lambda: "j3" not in row_ids(app), what="j3 row gone")

        # enqueue with a payload, an id and a delay
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        app.screen.query_one("#payload", TextArea).text = ""
        await pilot.click("#payload")
        await pilot.press(*'{"item": "lamp"}')
        await pilot.press("tab", *"j4", "tab", *"60")  # tab moves on to the id, the delay
        await pilot.press("ctrl+s")
        enqueued = job_is(
            tmp_path,
            "j4",
            lambda j: (
                j.payload == {"item": "lamp"}
                and j.available_at is not None
                and (j.available_at - j.created_at).total_seconds() >= 59
            ),
        )
        await until(pilot, enqueued, what="j4 enqueued")
        await until(pilot, lambda: "j4" in row_ids(app), what="j4 row")

        # an action the broker refuses is a notification and changes nothing
        generation = stored(tmp_path).generation
        await select(pilot, app, "j4")
        await pilot.press("a")  # j4 is pending, not claimed
        await until(pilot, lambda: [s for _, s in notes.messages if s == "error"], what="error")
        assert stored(tmp_path).generation == generation
        assert stored_job(tmp_path, "j4").status is JobStatus.PENDING  # type: ignore[union-attr]


async def test_bad_json_in_the_enqueue_dialog_shows_the_error_and_enqueues_nothing(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "j1")
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["j1"])
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        app.screen.query_one("#payload", TextArea).text = ""
        await pilot.click("#payload")
        await pilot.press(*'{"item": ')
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#form-error", Static)
        await until(pilot, lambda: "payload is not valid JSON" in str(error.render()))
        assert isinstance(app.screen, EnqueueScreen)  # refused in the form: nothing sent
    assert [job.id for job in stored(tmp_path).jobs] == ["j1"]
    status, reply = daemon.request("GET", "/topics/orders/status")
    assert status == 200 and reply["total"] == 1


async def test_localfs_tail_shows_another_clients_change_without_a_key(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "j1")
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["j1"])
        enqueue(daemon, "from-curl", {"who": "another client"})
        await until(pilot, lambda: "from-curl" in row_ids(app), what="tailed row")
        await claimed_elsewhere(pilot, app, daemon, "j1")


async def test_s3_tail_shows_another_clients_change_without_a_key(
    daemon_factory: Any, moto_server: Any, s3_bucket: str
) -> None:
    flags = ["--backend", "s3", "--bucket", s3_bucket, "--s3-endpoint", moto_server.endpoint_url]
    daemon = daemon_factory(*flags)
    enqueue(daemon, "j1")
    settings = ConsoleSettings(
        backend="s3",
        bucket=s3_bucket,
        s3_endpoint=moto_server.endpoint_url,
        region="us-east-1",
        poll_interval=0.2,
    )
    app = ConsoleApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["j1"], what="first rows")
        enqueue(daemon, "from-curl", {"who": "another client"})
        await until(pilot, lambda: "from-curl" in row_ids(app), what="tailed row")


async def test_broker_only_console_follows_the_document_long_poll(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "j1")
    app = ConsoleApp(ConsoleSettings(broker=daemon.http_url, poll_interval=0.2))
    assert not app.settings.reads_storage
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ["j1"], what="first rows")
        enqueue(daemon, "from-curl")
        await until(pilot, lambda: "from-curl" in row_ids(app), what="long-polled row")
        await pilot.press("c")
        await until(pilot, job_is(tmp_path, "j1", lambda j: j.status is JobStatus.CLAIMED))


async def test_a_stopped_broker_is_shown_refused_and_a_restarted_one_picked_up(
    tmp_path: Path, daemon_factory: Any
) -> None:
    first = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(first, "j1")
    app = localfs_console(tmp_path)
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["j1"])

        first.stop()
        down = ("● unreachable", "● stale", "● stopped")
        await until(pilot, lambda: any(w in broker_line(app) for w in down), what="header down")
        await pilot.press("c")
        await until(pilot, lambda: notes.find("Action refused"), what="refusal")
        assert stored_job(tmp_path, "j1").status is JobStatus.PENDING  # type: ignore[union-attr]

        # Storage is still followed while no broker answers: another writer adds a job.
        await write_directly(tmp_path, "orders", "j2")
        await until(pilot, lambda: "j2" in row_ids(app), what="row from storage")

        second = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))

        await until(pilot, lambda: "● connected" in broker_line(app), what="reconnected")
        assert second.http_url in header_text(app)
        await pilot.press("c")
        claimed = job_is(tmp_path, "j1", lambda j: j.status is JobStatus.CLAIMED)
        await until(pilot, claimed, what="claim through the new broker")
        assert main_screen(app).status.address == second.http_url


async def test_after_a_failover_the_console_moves_to_the_standby_that_took_over(
    tmp_path: Path, daemon_factory: Any
) -> None:
    quick = ["--heartbeat-period", "0.3", "--takeover-timeout", "2"]
    active = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), *quick)
    enqueue(active, "j1")
    standby = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), *quick)
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: active.http_url in broker_line(app), what="first broker")
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")

        active.kill()  # no clean stop: the standby takes over once the heartbeat is stale
        await until(pilot, lambda: standby.http_url in broker_line(app), what="failover")
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected again")
        await pilot.press("c")
        claimed = job_is(tmp_path, "j1", lambda j: j.status is JobStatus.CLAIMED)
        await until(pilot, claimed, what="claim through the standby")


async def test_the_token_is_sent_with_every_action(tmp_path: Path, daemon_factory: Any) -> None:
    daemon = daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path), "--auth-token", "s3cret"
    )
    status, _ = daemon.request(
        "POST",
        "/topics/orders/enqueue",
        json={"payload": 1, "id": "j1"},
        headers={"Authorization": "Bearer s3cret"},
    )
    assert status == 201
    app = localfs_console(tmp_path, token="s3cret")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: row_ids(app) == ["j1"])
        await pilot.press("c")
        claimed = job_is(tmp_path, "j1", lambda j: j.status is JobStatus.CLAIMED)
        await until(pilot, claimed, what="claim with the token")


@pytest.mark.parametrize("source", ["localfs", "broker"])
async def test_a_checkpointed_topic_shows_whole_and_follows_changes(
    tmp_path: Path, daemon_factory: Any, source: str
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path), *CHECKPOINTED)
    ids = [f"j{n:02d}" for n in range(60)]
    for job_id in ids:
        enqueue(daemon, job_id, {"pad": "x" * 80})
    pointer = json.loads((tmp_path / topic_key("orders")).read_bytes())
    assert pointer["format"] == 3  # a pointer to a checkpoint, a log after it
    if source == "localfs":
        app = localfs_console(tmp_path)
    else:
        app = ConsoleApp(ConsoleSettings(broker=daemon.http_url, poll_interval=0.2))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_ids(app) == ids, what="every job, in order")
        await claimed_elsewhere(pilot, app, daemon, "j00")


def topic_cell(app: ConsoleApp, topic: str, column: str) -> str:
    from console.widgets.topics import TopicsPane

    pane = main_screen(app).query_one(TopicsPane)
    try:
        return str(pane.get_cell(topic, column))
    except Exception:  # no such row yet
        return ""


@pytest.mark.parametrize("source", ["storage", "broker"])
async def test_a_broken_topic_is_marked_in_the_list_and_the_others_still_shown(
    tmp_path: Path, daemon_factory: Any, source: str
) -> None:
    daemon = daemon_factory("--backend", "localfs", "--dir", str(tmp_path))
    enqueue(daemon, "j1")
    bad = tmp_path / topic_key("bad")
    good = stored(tmp_path).model_copy(update={"topic": "bad"})
    broken = json.loads(dump_document(good))
    broken["jobs"] = {"x": broken["jobs"]}  # an object where a list belongs
    bad.write_text(json.dumps(broken))
    if source == "storage":
        app = localfs_console(tmp_path)
    else:
        app = ConsoleApp(ConsoleSettings(broker=daemon.http_url, poll_interval=0.2))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: topic_cell(app, "orders", "pending") == "1", what="orders")
        await until(pilot, lambda: "✗" in topic_cell(app, "bad", "topic"), what="bad marked")
        assert "field jobs" in topic_cell(app, "bad", "rate")
        assert topic_cell(app, "bad", "pending") == "-"

        bad.write_bytes(dump_document(good))  # repaired: the broker and the console follow
        await until(pilot, lambda: topic_cell(app, "bad", "pending") == "1", what="repaired")
        assert topic_cell(app, "bad", "topic") == "bad"


async def test_the_header_shows_a_broker_that_is_not_ready_and_why(
    tmp_path: Path, daemon_factory: Any
) -> None:
    daemon = daemon_factory(
        "--backend", "localfs", "--dir", str(tmp_path), "--heartbeat-period", "3600"
    )  # fmt: skip
    enqueue(daemon, "j1")
    app = localfs_console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "● connected" in broker_line(app), what="connected")
        await until(pilot, lambda: " · ready" in broker_line(app), what="ready")
        # A file where the topics directory belongs: no topic document can be written.
        (tmp_path / "topics").rename(tmp_path / "topics-away")
        (tmp_path / "topics").write_text("")
        status, _ = daemon.request("POST", "/topics/blocked/enqueue", {"payload": 1})
        assert status == 503
        await until(pilot, lambda: "not ready" in broker_line(app), what="not ready")
        assert "not ready: the last storage request failed: topics/blocked.json" in header_text(app)
