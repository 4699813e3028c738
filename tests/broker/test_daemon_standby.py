"""Two real brokers on one directory: a broker that has not seen another's writes looks at
storage before it refuses a request (HTTP and RESP)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from tests.support.daemon import Daemon

from .daemon_helpers import stored_jobs


def pair(factory: Callable[..., Daemon], data: Path) -> tuple[Daemon, Daemon]:
    flags = ["--backend", "localfs", "--dir", str(data), "--visibility-timeout", "300"]
    return factory(*flags), factory(*flags, redis=True)


def test_heartbeat_and_ack_on_the_other_broker(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = pair(daemon_factory, tmp_path)
    assert a.request("POST", "/topics/t/enqueue", {"id": "j", "payload": 1})[0] == 201
    assert b.request("GET", "/topics/t/jobs/j")[0] == 200  # b has loaded the topic: pending
    status, body = a.request("POST", "/topics/t/claim", {"worker_id": "w"})
    assert status == 200 and [job["id"] for job in body["jobs"]] == ["j"]

    lease = {"job_id": "j", "worker_id": "w"}
    status, body = b.request("POST", "/topics/t/heartbeat", lease)
    assert status == 200, body  # was 409 wrong_state from b's old copy
    status, body = b.request("POST", "/topics/t/ack", lease)
    assert status == 200 and body["job"]["status"] == "completed", body
    status, body = b.request("POST", "/topics/t/ack", lease)
    assert status == 409 and body["code"] == "wrong_state"  # a refusal that stands


def test_a_job_enqueued_or_claimed_on_the_other_broker_is_found(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = pair(daemon_factory, tmp_path)
    assert a.request("POST", "/topics/t/enqueue", {"id": "first", "payload": 1})[0] == 201
    assert b.request("GET", "/topics/t/jobs/first")[0] == 200  # b's copy: first pending
    assert a.request("POST", "/topics/t/claim", {"worker_id": "w"})[0] == 200

    # Over RESP: XACK counts the job claimed through the other broker (was 0).
    assert b.redis_port is not None
    client = redis.Redis(port=b.redis_port, socket_timeout=30)
    try:
        assert client.xack("t", "group", "first", "nobody") == 1
    finally:
        client.close()

    assert a.request("POST", "/topics/t/enqueue", {"id": "j", "payload": 2})[0] == 201
    status, body = b.request("GET", "/topics/t/jobs/j")
    assert status == 200 and body["job"]["id"] == "j", body  # was 404
    status, body = b.request("GET", "/topics/t/jobs/nobody")
    assert status == 404 and body["code"] == "job_not_found"
    assert [job["status"] for job in stored_jobs(tmp_path, "t")] == ["completed", "pending"]


def test_workers_spread_over_brokers_get_no_refusal(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """Each job is claimed through one broker and heartbeated, then acked, through the
    others (the order rotates), as clients spread over brokers at random would."""
    flags = ["--backend", "localfs", "--dir", str(tmp_path), "--visibility-timeout", "300"]
    brokers = [daemon_factory(*flags) for _ in range(3)]
    jobs = {"jobs": [{"id": f"j{n:03}", "payload": n} for n in range(60)]}
    assert brokers[0].request("POST", "/topics/t/batch", jobs)[0] == 201

    def work(worker: int) -> tuple[list[str], list[object]]:
        acked: list[str] = []
        refused: list[object] = []
        name = f"w{worker}"
        for turn in itertools.count(worker):
            claim_on, beat_on, ack_on = (brokers[(turn + k) % 3] for k in range(3))
            status, body = claim_on.request("POST", "/topics/t/claim", {"worker_id": name})
            if status != 200 or not body["jobs"]:
                return acked, refused  # this broker may not have seen the last jobs: enough
            lease = {"job_id": body["jobs"][0]["id"], "worker_id": name}
            for broker, route in ((beat_on, "heartbeat"), (ack_on, "ack")):
                status, answer = broker.request("POST", f"/topics/t/{route}", lease)
                if status != 200:
                    refused.append((route, status, answer))
            acked.append(lease["job_id"])
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(6)))
    assert [r for _, refused in results for r in refused] == []
    acked = [job_id for done, _ in results for job_id in done]
    assert len(acked) == len(set(acked)) >= 30
    completed = {job["id"] for job in stored_jobs(tmp_path, "t") if job["status"] == "completed"}
    assert completed == set(acked)
