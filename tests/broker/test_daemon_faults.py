"""The daemon under real storage faults: a write whose answer the network lost (S3 behind
a lossy proxy), and a checkpoint deleted from under a running broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from broker.committer import CHECKPOINT_CHECK_SECONDS
from common.keys import checkpoint_prefix, log_key
from common.store.s3 import S3Store
from tests.support.daemon import Daemon
from tests.support.moto import MotoServer
from tests.support.s3_proxy import LossyProxy

from .daemon_helpers import stored_document

BIG = str(64 * 2**20)  # --checkpoint-bytes: a checkpoint once the log has 4 MiB


def test_a_write_whose_answer_was_lost_is_answered_as_landed(
    daemon_factory: Callable[..., Daemon],
    lossy_s3: LossyProxy,
    moto_server: MotoServer,
    s3_bucket: str,
) -> None:
    d = daemon_factory("--backend", "s3", "--bucket", s3_bucket, "--s3-endpoint", lossy_s3.url)
    jobs = {"jobs": [{"id": f"j{n}", "payload": n} for n in range(3)]}
    assert d.request("POST", "/topics/t/batch", jobs)[0] == 201
    status, body = d.request("POST", "/topics/t/claim", {"worker_id": "w"})
    assert status == 200 and body["jobs"][0]["id"] == "j0"

    lossy_s3.lose_next_put(f"/{log_key('t', 3)}")  # the batch made 1, the claim 2
    status, body = d.request("POST", "/topics/t/ack", {"job_id": "j0", "worker_id": "w"})
    assert status == 200 and body["job"]["status"] == "completed", body  # was 409

    lossy_s3.lose_next_put(f"/{log_key('t', 4)}")
    status, body = d.request("POST", "/topics/t/claim", {"worker_id": "w"})
    assert status == 200 and [job["id"] for job in body["jobs"]] == ["j1"]
    assert len(lossy_s3.lost) == 2

    stored = stored_document(S3Store(s3_bucket, endpoint_url=moto_server.endpoint_url), "t")
    statuses = {job["id"]: job["status"] for job in stored["jobs"]}
    assert statuses == {"j0": "completed", "j1": "claimed", "j2": "pending"}  # one claim
    assert stored["counters"]["completed"] == 1


def test_a_checkpoint_deleted_under_a_broker_is_written_again(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    # A big --checkpoint-bytes: no new checkpoint is due during the test (one would
    # replace the deleted one on its own).
    flags = ["--backend", "localfs", "--dir", str(tmp_path), "--checkpoint-bytes", BIG]
    d = daemon_factory(*flags)
    jobs = {"jobs": [{"id": f"j{n:03}", "payload": "p" * 100} for n in range(60)]}
    assert d.request("POST", "/topics/t/batch", jobs)[0] == 201
    assert d.request("POST", "/topics/t/claim", {"worker_id": "w"})[0] == 200
    (checkpoint,) = (tmp_path / checkpoint_prefix("t")).glob("checkpoint-*")
    checkpoint.unlink()  # by hand, or a lifecycle rule

    # Heartbeats write small log objects (no new checkpoint is due) and are acknowledged;
    # the broker looks at its checkpoint once a second, before such a write.
    deadline = time.monotonic() + 30 * CHECKPOINT_CHECK_SECONDS  # generous, on a busy machine
    while "is missing" not in d.log_text() and time.monotonic() < deadline:
        status, body = d.request("POST", "/topics/t/heartbeat", {"job_id": "j000"})
        assert status == 200, body
    assert d.stop() == 0

    again = daemon_factory(*flags)  # reads what the first one acknowledged
    status, stats = again.request("GET", "/topics/t/status")
    assert status == 200 and (stats["pending"], stats["claimed"]) == (59, 1), stats
    assert f"checkpoint topics/t/{checkpoint.name} is missing" in d.log_text()
    assert list((tmp_path / checkpoint_prefix("t")).glob("checkpoint-*")) != []
