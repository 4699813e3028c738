"""Two brokers on one localfs directory, and the broker registry between them."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.daemon import Daemon

from .daemon_helpers import eventually, stored_jobs


@pytest.mark.parametrize(
    "size_flags", [[], ["--checkpoint-bytes", "4096"]], ids=["whole", "checkpointed"]
)
def test_two_brokers_hammered_lose_nothing_and_never_double_claim(
    daemon_factory: Callable[..., Daemon], tmp_path: Path, size_flags: list[str]
) -> None:
    flags = ["--dir", str(tmp_path), "--visibility-timeout", "300", *size_flags]
    brokers = [daemon_factory(*flags), daemon_factory(*flags)]
    ids = [f"job-{n}" for n in range(300)]
    claims: list[tuple[str, str]] = []
    lock = threading.Lock()

    def enqueue(n: int) -> int:
        status, _ = brokers[n % 2].request(
            "POST", "/topics/shared/enqueue", {"id": ids[n], "payload": n}
        )
        return status

    def work(worker: int) -> None:
        broker = brokers[worker % 2]
        name = f"worker-{worker}"
        idle = 0
        while idle < 10:
            status, body = broker.request(
                "POST", "/topics/shared/claim", {"worker_id": name, "count": 3}
            )
            if status != 200:
                idle += 1
                continue
            idle = 0
            for job in body["jobs"]:
                with lock:
                    claims.append((job["id"], name))
                status, _ = broker.request(
                    "POST", "/topics/shared/ack", {"job_id": job["id"], "worker_id": name}
                )
                assert status == 200

    workers = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in workers:
        thread.start()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(enqueue, range(len(ids))))
    assert set(statuses) <= {200, 201}
    for thread in workers:
        thread.join(120)

    # Work left behind (a broker that last saw no jobs) is drained through either broker.
    for broker in brokers:
        while True:
            status, body = broker.request(
                "POST", "/topics/shared/claim", {"worker_id": "drain", "count": 50}
            )
            if status != 200:
                break
            for job in body["jobs"]:
                claims.append((job["id"], "drain"))
                broker.request("POST", "/topics/shared/ack", {"job_id": job["id"]})

    claimed = Counter(job_id for job_id, _ in claims)
    assert all(count == 1 for count in claimed.values()), claimed.most_common(3)
    jobs = stored_jobs(tmp_path, "shared")
    assert sorted(job["id"] for job in jobs) == sorted(ids)  # each exactly once
    assert set(claimed) == set(ids)
    assert all(job["status"] == "completed" for job in jobs)
    if size_flags:  # a log over checkpoints; the older checkpoints are deleted
        pointer = tmp_path / "topics" / "shared.json"
        assert json.loads(pointer.read_bytes())["format"] == 3

        def only_the_named_checkpoint() -> bool:
            named = json.loads(pointer.read_bytes())["checkpoint"].rpartition("/")[2]
            files = (tmp_path / "topics" / "shared").iterdir()
            return [path.name for path in files if path.name.startswith("checkpoint-")] == [named]

        eventually(only_the_named_checkpoint)


def test_standby_takes_over_when_the_active_broker_stops(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    flags = ["--dir", str(tmp_path), "--heartbeat-period", "0.2", "--takeover-timeout", "60"]
    first = daemon_factory(*flags, "--broker-id", "node-a")
    second = daemon_factory(*flags, "--broker-id", "node-b")
    _, health = first.request("GET", "/healthz")
    assert (health["state"], health["active"], health["broker_id"]) == ("active", True, "node-a")
    _, health = second.request("GET", "/healthz")
    assert (health["state"], health["active"]) == ("standby", False)
    assert health["active_broker"]["broker_id"] == "node-a"
    assert health["active_broker"]["http_addr"] == first.http_url

    # A standby still serves, correctly through CAS.
    assert second.request("POST", "/topics/t/enqueue", {"payload": 1})[0] == 201

    assert first.stop() == 0
    eventually(lambda: second.request("GET", "/healthz")[1]["active"])
    record = (tmp_path / "broker.json").read_text()
    assert '"broker_id":"node-b"' in record and '"state":"active"' in record


def test_registry_records_the_advertised_address(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemon_factory(
        "--dir", str(tmp_path), "--advertise-addr", "queue.example:9000",
        env={"SQ_BROKER_ID": "node-env", "SQ_VISIBILITY_TIMEOUT": "12.5"},
    )  # fmt: skip
    _, health = d.request("GET", "/healthz")
    assert health["broker_id"] == "node-env" and health["visibility_timeout"] == 12.5
    record = json.loads((tmp_path / "broker.json").read_text())
    assert record["http_addr"] == "http://queue.example:9000"
    assert record["broker_id"] == "node-env" and record["state"] == "active"
