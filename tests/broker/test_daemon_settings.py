"""Per-topic settings and pause against real daemons: overrides of the broker's flags,
stored with the topic (so a second broker and a restart apply them), pause over HTTP and
RESP, and bad input refused with nothing changed."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.daemon import Daemon

from .daemon_helpers import eventually

Factory = Callable[..., Daemon]


def call(daemon: Daemon, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    status, reply = daemon.request(method, path, body)
    assert status == expect, (method, path, status, reply)
    return reply


def patch(daemon: Daemon, topic: str, body: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = call(daemon, "PATCH", f"/topics/{topic}/settings", body)
    return reply


def settings(daemon: Daemon, topic: str) -> dict[str, Any]:
    reply: dict[str, Any] = call(daemon, "GET", f"/topics/{topic}/settings")
    return reply


def enqueue(daemon: Daemon, topic: str, job_id: str) -> None:
    call(daemon, "POST", f"/topics/{topic}/enqueue", {"id": job_id, "payload": job_id}, 201)


def claim(daemon: Daemon, topic: str, wait: float = 0) -> str | None:
    """The id of the job claimed, or None when the topic offers none."""
    body = {"worker_id": "w", "wait_seconds": wait}
    status, reply = daemon.request("POST", f"/topics/{topic}/claim", body, timeout=wait + 60)
    if status == 404 and reply["code"] == "empty":
        return None
    assert status == 200, reply
    return str(reply["job"]["id"])


def job_status(daemon: Daemon, topic: str, job_id: str) -> str:
    return str(call(daemon, "GET", f"/topics/{topic}/jobs/{job_id}")["job"]["status"])


def log_objects(data_dir: Path, topic: str) -> list[dict[str, Any]]:
    folder = data_dir / "topics" / topic / "log"
    # Not the store's `.lock-*` and `.tmp-*` files (pathlib's glob matches dot files).
    return [json.loads(path.read_bytes()) for path in sorted(folder.glob("0*.json"))]


def test_settings_show_the_flags_until_overridden_and_null_clears(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path), "--max-attempts", "7", "--retry-cap", "60")
    shown = settings(d, "t")
    assert shown["overridden"] == []
    assert shown["settings"] == {
        "visibility_timeout": 30.0,
        "max_attempts": 7,
        "completed_retention": 1000,
        "dead_retention": 10000,
        "retry_base": 1.0,
        "retry_cap": 60.0,
        "paused": False,
    }
    enqueue(d, "t", "a")
    changed = patch(d, "t", {"max_attempts": 2, "retry_base": 0.5, "dead_retention": 3})
    assert changed["overridden"] == ["max_attempts", "dead_retention", "retry_base"]
    assert changed["settings"]["max_attempts"] == 2
    assert changed["settings"]["retry_cap"] == 60.0  # still the flag
    assert settings(d, "t") == changed
    # Stored with the topic: the commit's log object carries the whole set.
    assert log_objects(tmp_path, "t")[-1]["settings"] == {
        "max_attempts": 2,
        "dead_retention": 3,
        "retry_base": 0.5,
    }
    cleared = patch(d, "t", {"max_attempts": None})
    assert cleared["overridden"] == ["dead_retention", "retry_base"]
    assert cleared["settings"]["max_attempts"] == 7
    document = call(d, "GET", "/topics/t/document")
    assert document["settings"] == {"dead_retention": 3, "retry_base": 0.5}
    patch(d, "t", {"dead_retention": None, "retry_base": None})
    # The last override cleared: `{}` once, then the topic is written as before settings.
    assert log_objects(tmp_path, "t")[-1]["settings"] == {}
    enqueue(d, "t", "b")
    assert "settings" not in log_objects(tmp_path, "t")[-1]
    assert "settings" not in call(d, "GET", "/topics/t/document")


def test_a_topic_without_settings_stores_no_settings_field(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path), "--checkpoint-bytes", "1024")
    for n in range(60):
        enqueue(d, "plain", f"job-{n}-" + "x" * 40)
    patch(d, "plain", {"max_attempts": None})  # clears nothing: no commit
    d.stop()
    folder = tmp_path / "topics" / "plain"
    stored = [*folder.glob("checkpoint-*.json"), *(folder / "log").glob("0*.json")]
    assert any(path.name.startswith("checkpoint-") for path in stored)
    assert len(list((folder / "log").glob("0*.json"))) >= 1
    assert all(b'"settings"' not in path.read_bytes() for path in stored)


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(("fixture", "topic"), [("format1", "whole"), ("format2", "headed")])
def test_old_topics_load_unchanged_and_stay_without_settings(
    daemon_factory: Factory, tmp_path: Path, fixture: str, topic: str
) -> None:
    shutil.copytree(FIXTURES / fixture, tmp_path, dirs_exist_ok=True)
    d = daemon_factory("--dir", str(tmp_path), "--max-attempts", "9")
    before = call(d, "GET", f"/topics/{topic}/status")
    assert before["total"] > 0 and before["paused"] is False
    shown = settings(d, topic)
    assert (shown["overridden"], shown["settings"]["max_attempts"]) == ([], 9)
    enqueue(d, topic, "new-job")  # the first write moves it to the log layout
    folder = tmp_path / "topics" / topic
    written = []
    for path in [*folder.glob("checkpoint-*.json"), *(folder / "log").glob("0*.json")]:
        with contextlib.suppress(FileNotFoundError):  # the format-2 checkpoint, collected
            written.append(path.read_bytes())
    assert written and all(b'"settings"' not in data for data in written)
    assert call(d, "GET", f"/topics/{topic}/status")["total"] == before["total"] + 1


@pytest.mark.parametrize(
    ("flag", "override", "reaped", "kept"),
    [("600", 0.3, "topic", "flag"), ("0.3", 600, "flag", "topic")],
    ids=["sooner", "later"],
)
def test_a_topic_visibility_timeout_overrides_the_flag(
    daemon_factory: Factory, flag: str, override: float, reaped: str, kept: str
) -> None:
    d = daemon_factory(
        "--backend", "memfs", "--visibility-timeout", flag, "--reaper-period", "0.05"
    )
    patch(d, "topic", {"visibility_timeout": override})
    for topic in ("topic", "flag"):  # "flag" has no settings: the broker's flag holds
        enqueue(d, topic, "j")
        assert claim(d, topic) == "j"
    eventually(lambda: job_status(d, reaped, "j") == "pending")
    assert job_status(d, kept, "j") == "claimed"  # claimed at the same time, not reaped
    assert call(d, "GET", f"/topics/{reaped}/status")["counters"]["reaped"] == 1


def test_max_attempts_per_topic(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs", "--max-attempts", "5")
    patch(d, "brittle", {"max_attempts": 2})
    for topic in ("brittle", "flag"):
        enqueue(d, topic, "j")
    for attempt in (1, 2):
        for topic in ("brittle", "flag"):
            assert claim(d, topic) == "j"
            nack = {"job_id": "j", "delay_seconds": 0, "error": f"attempt {attempt}"}
            job = call(d, "POST", f"/topics/{topic}/nack", nack)["job"]
    assert job_status(d, "brittle", "j") == "dead"
    assert job["status"] == "pending"  # "flag" keeps the broker's 5 attempts


def test_pause_hides_jobs_from_claims_and_pops_while_enqueues_land(
    daemon_factory: Factory,
) -> None:
    d = daemon_factory("--backend", "memfs", redis=True)
    client = redis.Redis(port=d.redis_port or 0, socket_timeout=60)
    enqueue(d, "q", "before")
    client.xgroup_create("s", "g", id="0", mkstream=True)
    assert patch(d, "q", {"paused": True})["settings"]["paused"] is True
    patch(d, "s", {"paused": True})
    assert call(d, "GET", "/topics/q/status")["paused"] is True
    listed = {t["topic"]: t["paused"] for t in call(d, "GET", "/topics")["topics"]}
    assert listed == {"q": True, "s": True}

    enqueue(d, "q", "during")  # enqueues still land
    assert client.lpush("q", "pushed") == 3
    stream_id = client.xadd("s", {"k": "v"})
    assert claim(d, "q") is None
    assert client.rpop("q") is None and client.lpop("q") is None
    assert client.xreadgroup("g", "c", {"s": ">"}, count=1) == []
    assert call(d, "GET", "/topics/q/status")["pending"] == 3

    # Long polls and blocking pops wait through the pause and wake on resume.
    got: dict[str, Any] = {}
    waiters = [
        threading.Thread(target=lambda: got.update(claim=claim(d, "q", wait=120))),
        threading.Thread(
            target=lambda: got.update(brpop=redis.Redis(port=d.redis_port or 0).brpop(["q"], 120))
        ),
        threading.Thread(
            target=lambda: got.update(
                xread=redis.Redis(port=d.redis_port or 0).xreadgroup(
                    "g", "c", {"s": ">"}, count=1, block=120_000
                )
            )
        ),
    ]
    for waiter in waiters:
        waiter.start()
    eventually(lambda: _long_polls(d) >= 3)
    assert got == {}  # still waiting: nothing was offered while paused
    patch(d, "q", {"paused": False})
    patch(d, "s", {"paused": None})
    for waiter in waiters:
        waiter.join(180)
    assert got["claim"] == "before"
    assert got["brpop"] is not None
    assert got["xread"][0][1][0][0] == stream_id
    assert call(d, "GET", "/topics/q/status")["paused"] is False
    assert settings(d, "q")["overridden"] == []


def test_a_paused_topic_is_still_reaped(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs", "--reaper-period", "0.05")
    enqueue(d, "q", "j")
    assert claim(d, "q") == "j"
    patch(d, "q", {"paused": True, "visibility_timeout": 0.2})
    eventually(lambda: job_status(d, "q", "j") == "pending")  # the lease ran out
    assert call(d, "GET", "/topics/q/status")["counters"]["reaped"] == 1
    assert claim(d, "q") is None  # back to pending, but not offered while paused


def _long_polls(d: Daemon) -> float:
    status, text = d.request("GET", "/metrics")
    assert status == 200
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in str(text).splitlines()
        if line.startswith("sq_long_polls ")
    )


def test_a_second_broker_applies_the_first_ones_settings(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    first = daemon_factory("--dir", str(tmp_path))
    second = daemon_factory("--dir", str(tmp_path))
    enqueue(second, "shared", "a")  # the second broker has the topic loaded
    patch(first, "shared", {"paused": True, "max_attempts": 1})
    enqueue(second, "shared", "b")  # its write conflicts, so it reads the first's commit
    assert settings(second, "shared")["overridden"] == ["max_attempts", "paused"]
    assert claim(second, "shared") is None
    patch(first, "shared", {"paused": None})
    assert claim(second, "shared", wait=60) == "a"  # waiting claims read storage
    call(second, "POST", "/topics/shared/nack", {"job_id": "a", "delay_seconds": 0})
    assert job_status(second, "shared", "a") == "dead"  # max_attempts 1, from the first


def test_settings_survive_a_restart_and_a_checkpoint(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    flags = ("--dir", str(tmp_path), "--checkpoint-bytes", "1024")
    d = daemon_factory(*flags)
    patch(d, "kept", {"paused": True, "completed_retention": 4, "visibility_timeout": 12.5})
    folder = tmp_path / "topics" / "kept"
    n = 0

    def checkpointed_with_settings() -> bool:
        nonlocal n
        n += 1
        enqueue(d, "kept", f"job-{n}-" + "x" * 60)
        return any(
            b'"settings":{"visibility_timeout":12.5,"completed_retention":4,"paused":true}'
            in path.read_bytes()
            for path in folder.glob("checkpoint-*.json")
        )

    eventually(checkpointed_with_settings)
    before = settings(d, "kept")
    d.stop()
    again = daemon_factory(*flags)
    assert settings(again, "kept") == before
    assert before["overridden"] == ["visibility_timeout", "completed_retention", "paused"]
    assert claim(again, "kept") is None


def test_bad_settings_are_refused_and_change_nothing(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs")
    patch(d, "t", {"max_attempts": 3})
    generation = call(d, "GET", "/topics/t/status")["generation"]
    before = settings(d, "t")
    for body, words in [
        ({"max_attempts": -1}, "max_attempts must be an integer from 0 to 1000000, got -1"),
        ({"visibility_timeout": 0}, "visibility_timeout must be above 0"),
        ({"retry_cap": "5"}, "retry_cap must be a number of seconds"),
        ({"paused": "yes"}, "'paused'"),
        ({"max_attempts": 2.5}, "max_attempts must be an integer"),
        ({"max_attempt": 2}, "unknown field 'max_attempt': did you mean 'max_attempts'?"),
        ({"paused": True, "bogus": 1}, "unknown field 'bogus'"),
    ]:
        status, reply = d.request("PATCH", "/topics/t/settings", body)
        assert status == 400 and reply["code"] == "bad_request", (body, reply)
        assert words in reply["error"], (body, reply)
    status, reply = d.request("PATCH", "/topics/t/settings", data=b"[1]")
    assert status == 400, reply
    assert settings(d, "t") == before
    assert call(d, "GET", "/topics/t/status")["generation"] == generation


def test_settings_are_in_the_openapi_document(daemon_factory: Factory) -> None:
    d = daemon_factory("--backend", "memfs")
    document = call(d, "GET", "/openapi.json")
    route = document["paths"]["/topics/{topic}/settings"]
    body = route["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TopicSettings"}
    schema = document["components"]["schemas"]["TopicSettings"]
    assert set(schema["properties"]) >= {"visibility_timeout", "max_attempts", "paused"}
    assert schema["additionalProperties"] is False
    assert "get" in route
