"""Stored documents of the wrong shape, through a real daemon on a real directory: the topic
answers 503 `document_invalid` naming the key and the field, the file is never written
over, the other topics keep working, and the topic comes back when the file is repaired
(no restart) or when an operator resets it with the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from common.store.localfs import LocalFSStore
from common.topic_log import DocumentReader
from tests.support.cli import run_cli
from tests.support.daemon import Daemon

from .daemon_helpers import eventually, stored_document

HEADER = {
    "format": 1,
    "topic": "bad",
    "generation": 7,
    "writer": "someone",
    "updated_at": "2026-01-01T00:00:00.000Z",
    "counters": {"enqueued": 1},
}
JOB = {"id": "j1", "status": "pending", "payload": 1, "created_at": "2026-01-01T00:00:00.000Z"}
HEAD: dict[str, Any] = {
    **HEADER,
    "format": 2,
    "checkpoint": {"key": "topics/bad/checkpoint-000000000005-0123abcd.json", "generation": 5},
}

# name: (document, the field the error must name)
SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "jobs is an object": ({**HEADER, "jobs": {}}, "field jobs"),
    "jobs is a string": ({**HEADER, "jobs": ""}, "field jobs"),
    "a job is a number": ({**HEADER, "jobs": [1]}, "field jobs.0"),
    "a job has no status": ({**HEADER, "jobs": [{"id": "j1", "created_at": "x"}]}, "jobs.0"),
    "a job id twice": ({**HEADER, "jobs": [JOB, JOB]}, "field jobs"),
    "counters is a list": ({**HEADER, "counters": [], "jobs": []}, "field counters"),
    "a time is a number": ({**HEADER, "jobs": [{**JOB, "created_at": 5}]}, "created_at"),
    # Adding 1 to these would overflow orjson's 64-bit integers on every write.
    "attempts of 2**64-1": (
        {**HEADER, "jobs": [{**JOB, "attempts": 2**64 - 1}]},
        "field jobs.0.attempts",
    ),
    "a counter of 2**64-1": (
        {**HEADER, "counters": {"enqueued": 2**64 - 1}, "jobs": []},
        "field counters.enqueued",
    ),
    "head: removed holds a number": (
        {**HEAD, "checkpoint": {**HEAD["checkpoint"], "jobs": 1}, "removed": [1], "jobs": []},
        "field removed.0",
    ),
}


def _write(data_dir: Path, topic: str, document: dict[str, Any]) -> bytes:
    path = data_dir / "topics" / f"{topic}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(document)
    path.write_bytes(data)
    return data


@pytest.fixture
def daemon(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> Daemon:
    d = daemon_factory("--dir", str(tmp_path))
    assert d.request("POST", "/topics/good/enqueue", {"id": "g1", "payload": 1})[0] == 201
    return d


def _assert_invalid(reply: tuple[int, Any], field: str) -> None:
    status, body = reply
    assert (status, body["code"]) == (503, "document_invalid"), body
    assert "topics/bad.json" in body["error"] and field in body["error"], body
    assert "reset-invalid" in body["error"]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_wrong_shape_is_refused_by_name_and_never_written_over(
    daemon: Daemon, tmp_path: Path, shape: str
) -> None:
    document, field = SHAPES[shape]
    stored = _write(tmp_path, "bad", document)
    path = tmp_path / "topics" / "bad.json"
    _assert_invalid(daemon.request("POST", "/topics/bad/enqueue", {"payload": 2}), field)
    _assert_invalid(daemon.request("POST", "/topics/bad/claim", {"worker_id": "w"}), field)
    _assert_invalid(daemon.request("POST", "/topics/bad/ack", {"job_id": "j1"}), field)
    _assert_invalid(daemon.request("GET", "/topics/bad/status"), field)
    _assert_invalid(daemon.request("GET", "/topics/bad/document"), field)
    assert path.read_bytes() == stored

    # The broken topic is listed with its error; the healthy one with its counts.
    status, body = daemon.request("GET", "/topics")
    assert status == 200, body
    listed = {t["topic"]: t for t in body["topics"]}
    assert listed["good"]["pending"] == 1 and "error" not in listed["good"]
    assert "topics/bad.json" in listed["bad"]["error"] and field in listed["bad"]["error"]
    assert daemon.request("POST", "/topics/good/enqueue", {"payload": 3})[0] == 201
    assert path.read_bytes() == stored


def test_a_repaired_document_is_picked_up_without_a_restart(daemon: Daemon, tmp_path: Path) -> None:
    _write(tmp_path, "bad", {**HEADER, "jobs": {}})
    _assert_invalid(daemon.request("POST", "/topics/bad/enqueue", {"payload": 2}), "field jobs")
    _write(tmp_path, "bad", {**HEADER, "jobs": [JOB]})  # repaired by hand
    status, body = daemon.request("POST", "/topics/bad/enqueue", {"id": "j2", "payload": 2})
    assert status == 201, body
    stored = stored_document(LocalFSStore(tmp_path), "bad")
    assert [job["id"] for job in stored["jobs"]] == ["j1", "j2"]
    assert stored["generation"] == 8


def test_the_cli_lists_marks_and_resets_a_broken_topic(daemon: Daemon, tmp_path: Path) -> None:
    stored = _write(tmp_path, "bad", {**HEADER, "jobs": ""})
    broker = ["-broker", daemon.http_url]

    listed = run_cli(*broker, "topics")
    assert listed.status == 0, listed.stderr
    by_topic = {t["topic"]: t for t in listed.json()["topics"]}
    assert by_topic["good"]["pending"] == 1 and "field jobs" in by_topic["bad"]["error"]
    table = run_cli(*broker, "--format", "table", "topics").stdout.splitlines()
    assert table[0].split()[-1] == "error"
    assert [line.split()[:2] for line in table[1:]] == [["bad", "-"], ["good", "1"]]

    # A storage error is exit 8, not "unreachable" (5); one line naming key and field.
    status = run_cli(*broker, "-topic", "bad", "status")
    assert status.status == 8 and status.stdout == ""
    assert len(status.stderr.splitlines()) == 1
    assert "topics/bad.json" in status.stderr and "field jobs" in status.stderr

    reset = run_cli(*broker, "-topic", "bad", "reset-invalid")
    assert reset.status == 0, reset.stderr
    moved_to = reset.json()["moved_to"]
    assert moved_to.startswith("topics/bad/invalid-")
    assert (tmp_path / moved_to).read_bytes() == stored  # the bytes are kept
    assert not (tmp_path / "topics" / "bad.json").exists()
    assert run_cli(*broker, "-topic", "bad", "enqueue", "--id", "new", "1").status == 0
    assert run_cli(*broker, "-topic", "bad", "status").json()["pending"] == 1
    listed_after = {t["topic"] for t in run_cli(*broker, "topics").json()["topics"]}
    assert listed_after == {"bad", "good"}  # the kept copy is not a topic

    again = run_cli(*broker, "-topic", "bad", "reset-invalid")
    assert again.status == 6 and "nothing to reset" in again.stderr


def test_a_deleted_checkpoint_is_named_as_missing(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory("--dir", str(tmp_path), "--checkpoint-bytes", "4096")
    for n in range(60):
        assert d.request("POST", "/topics/big/enqueue", {"id": f"j{n}", "payload": n})[0] == 201
    assert d.stop() == 0
    directory = tmp_path / "topics" / "big"
    checkpoints = [p for p in directory.iterdir() if p.name.startswith("checkpoint-")]
    assert len(checkpoints) == 1
    checkpoints[0].unlink()
    head = (tmp_path / "topics" / "big.json").read_bytes()

    d = daemon_factory("--dir", str(tmp_path))
    status, body = d.request("POST", "/topics/big/enqueue", {"payload": 1})
    assert (status, body["code"]) == (503, "document_invalid"), body
    assert (
        f"names checkpoint topics/big/{checkpoints[0].name}, which does not exist"
        in (body["error"])
    )
    assert "another broker" not in body["error"]
    assert (tmp_path / "topics" / "big.json").read_bytes() == head


def test_a_broken_topic_does_not_stop_the_others_loading_at_start(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    # "a" is loaded first and is broken; "b" holds an expired claim that only its
    # reaper, started when the broker preloads it, will give back (no request touches it).
    _write(tmp_path, "a", {**HEADER, "topic": "a", "jobs": ""})
    old = "2020-01-01T00:00:00.000Z"
    claim = {**JOB, "status": "claimed", "attempts": 1, "claimed_by": "w", "claimed_at": old}
    _write(tmp_path, "b", {**HEADER, "topic": "b", "jobs": [claim]})
    daemon_factory("--dir", str(tmp_path), "--reaper-period", "0.2")

    def reaped() -> bool:
        stored = stored_document(LocalFSStore(tmp_path), "b")
        return bool(stored["jobs"][0]["status"] == "pending")

    eventually(reaped)


def test_resp_answers_err_naming_the_field_not_tryagain(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    import redis

    stored = _write(tmp_path, "bad", {**HEADER, "jobs": {}})
    d = daemon_factory("--dir", str(tmp_path), redis=True)
    assert d.redis_port is not None
    client = redis.Redis(port=d.redis_port, socket_timeout=30)
    with pytest.raises(redis.ResponseError) as info:
        client.lpush("bad", "x")
    assert type(info.value) is redis.ResponseError  # ERR: retrying would not help
    assert "topics/bad.json" in str(info.value) and "field jobs" in str(info.value)
    assert (tmp_path / "topics" / "bad.json").read_bytes() == stored
    client.close()


async def test_reset_on_s3_keeps_the_bytes_and_starts_empty(
    daemon_factory: Callable[..., Daemon], moto_server: Any, s3_bucket: str
) -> None:
    from common.store.s3 import S3Store
    from tests.support.moto import REGION

    endpoint = moto_server.endpoint_url
    data = orjson.dumps({**HEADER, "jobs": {}})
    async with S3Store(bucket=s3_bucket, endpoint_url=endpoint, region=REGION) as store:
        await store.put_if("topics/bad.json", data, None)
        d = daemon_factory("--backend", "s3", "--bucket", s3_bucket, "--s3-endpoint", endpoint)
        _assert_invalid(d.request("POST", "/topics/bad/enqueue", {"payload": 1}), "field jobs")
        assert (await store.get("topics/bad.json")).data == data

        status, body = d.request("POST", "/topics/bad/reset-invalid")
        assert status == 200, body
        assert (await store.get(body["moved_to"])).data == data
        assert d.request("POST", "/topics/bad/enqueue", {"id": "n", "payload": 1})[0] == 201
        found = await DocumentReader(store).get("bad")
        assert orjson.loads(found.data)["jobs"][0]["id"] == "n"
