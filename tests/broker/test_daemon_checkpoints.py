"""Big topics against the daemon subprocess: checkpoints and log objects on real storage,
read back by other readers, by the /document route and by a broker started after a
SIGKILL."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.keys import checkpoint_prefix
from common.store import ObjectStore
from common.store.localfs import LocalFSStore
from common.store.s3 import S3Store
from tests.support.daemon import Daemon
from tests.support.documents import pending_id, write_pending
from tests.support.moto import REGION

from .daemon_helpers import metric, stored_document

SMALL = "4096"  # --checkpoint-bytes: 30 jobs make a big topic


def _store_for(flags: list[str], tmp_path: Path, endpoint: str | None) -> Callable[[], ObjectStore]:
    if endpoint is None:
        return lambda: LocalFSStore(tmp_path / "data")
    bucket = flags[flags.index("--bucket") + 1]
    return lambda: S3Store(bucket=bucket, endpoint_url=endpoint, region=REGION)


@pytest.fixture(params=["localfs", "s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[list[str], Callable[[], ObjectStore]]:
    if request.param == "localfs":
        flags = ["--backend", "localfs", "--dir", str(tmp_path / "data")]
        return flags, _store_for(flags, tmp_path, None)
    endpoint = request.getfixturevalue("moto_server").endpoint_url
    bucket = request.getfixturevalue("s3_bucket")
    flags = ["--backend", "s3", "--bucket", bucket, "--s3-endpoint", endpoint]
    return flags, _store_for(flags, tmp_path, endpoint)


def _enqueue(d: Daemon, n: int) -> tuple[int, Any]:
    return d.request("POST", "/topics/big/enqueue", {"id": f"job-{n:04d}", "payload": {"n": n}})


def test_big_topic_survives_sigkill_and_reads_the_same_everywhere(
    daemon_factory: Callable[..., Daemon],
    backend: tuple[list[str], Callable[[], ObjectStore]],
) -> None:
    flags, open_store = backend
    d = daemon_factory(*flags, "--checkpoint-bytes", SMALL)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda n: _enqueue(d, n), range(300)))
    assert all(status == 201 for status, _ in results)
    claimed = []
    for _ in range(10):
        status, body = d.request("POST", "/topics/big/claim", {"worker_id": "w", "count": 5})
        assert status == 200
        claimed += [job["id"] for job in body["jobs"]]
    for job_id in claimed[::2]:
        assert d.request("POST", "/topics/big/ack", {"job_id": job_id})[0] == 200
    assert d.request("DELETE", "/topics/big/jobs/job-0299")[0] == 200
    assert metric(d, "sq_checkpoints_total") >= 1

    # Storage: a log over checkpoints, which every reader sees as the whole document.
    status, served = d.request("GET", "/topics/big/document")
    assert status == 200 and served["format"] == 1
    stored = stored_document(open_store(), "big")
    assert stored == served
    by_id = {job["id"]: job for job in stored["jobs"]}
    assert len(by_id) == 299 and "job-0299" not in by_id
    assert {by_id[i]["status"] for i in claimed[::2]} == {"completed"}
    assert {by_id[i]["status"] for i in claimed[1::2]} == {"claimed"}
    next_in_line = next(job["id"] for job in stored["jobs"] if job["status"] == "pending")

    status_before = d.request("GET", "/topics/big/status")[1]
    d.kill()
    again = daemon_factory(*flags, "--checkpoint-bytes", SMALL)
    assert again.request("GET", "/topics/big/status")[1] == status_before
    status, body = again.request("POST", "/topics/big/claim", {"worker_id": "w2"})
    assert status == 200 and body["job"]["id"] == next_in_line
    assert again.request("POST", "/topics/big/ack", {"job_id": claimed[1]})[0] == 200
    after = {job["id"]: job for job in stored_document(open_store(), "big")["jobs"]}
    assert after[claimed[1]]["status"] == "completed"
    assert after[next_in_line]["status"] == "claimed"


def test_a_big_topic_on_localfs_keeps_one_checkpoint_file_and_small_log_objects(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    d = daemon_factory("--dir", str(data), "--checkpoint-bytes", SMALL)
    for n in range(200):
        assert _enqueue(d, n)[0] == 201
    assert d.stop() == 0  # a checkpoint in flight is finished first
    pointer = json.loads((data / "topics" / "big.json").read_bytes())
    assert pointer["format"] == 3
    directory = data / checkpoint_prefix("big")
    files = sorted(p.name for p in directory.iterdir() if p.name.startswith("checkpoint-"))
    assert files == [Path(pointer["checkpoint"]).name]
    logs = [p for p in (directory / "log").iterdir() if not p.name.startswith(".")]
    assert len(logs) == 199  # one per enqueue after the first (kept for the grace period)
    assert max(len(p.read_bytes()) for p in logs) < 600  # its own job and a header
    assert len((data / "topics" / "big.json").read_bytes()) < 300


def test_a_restarted_broker_claims_from_a_big_topic_in_order_while_loading(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    jobs = 50_000  # more than one loading step of the broker
    write_pending(data, "deep", jobs, "p" * 20)
    first = daemon_factory("--dir", str(data))
    status, body = first.request("POST", "/topics/deep/claim", {"worker_id": "w"}, timeout=120)
    assert status == 200 and body["job"]["id"] == pending_id(0)
    first.kill()  # the claim's write moved the topic to the log layout

    again = daemon_factory("--dir", str(data))
    status, body = again.request("POST", "/topics/deep/claim", {"worker_id": "w"}, timeout=120)
    assert status == 200 and body["job"]["id"] == pending_id(1)
    last = pending_id(jobs - 1)
    status, body = again.request("POST", "/topics/deep/enqueue", {"id": last, "payload": 1})
    assert (status, body) == (200, {"id": last, "created": False})  # saw the whole topic
    status, body = again.request("GET", "/topics/deep/status")
    assert (body["total"], body["claimed"], body["pending"]) == (jobs, 2, jobs - 2)
    stored = stored_document(LocalFSStore(data), "deep")["jobs"]
    assert [job["status"] for job in stored[:3]] == ["claimed", "claimed", "pending"]
    assert len(stored) == jobs
