"""One chaos run: brokers on one storage, random SIGKILLs and restarts, mixed clients, then
every broker stopped and storage checked against the clients' history.

`run_chaos(Setup(...))` is used by the bounded tests (tests/chaos/test_chaos.py) and by
`make chaos` (python -m tests.chaos) for longer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.store import ObjectStore
from common.store.localfs import LocalFSStore
from common.store.s3 import S3Store

from .checker import Report, Rules, check
from .cluster import Cluster, chaos_schedule
from .history import History
from .snapshot import local_files, read_storage
from .workload import FAN_TOPIC, Workload

TOPICS = ["chaos-a", "chaos-b"]
S3_PREFIX = "chaos"
VISIBILITY_TIMEOUT = 2.0
COMPLETED_RETENTION = 300  # small, so that retention trims during a run
CLIENTS_FINISH_SECONDS = 120.0  # every call is bounded well below this


@dataclass
class Setup:
    seconds: float
    seed: int
    brokers: int
    data_dir: Path | None = None  # localfs
    s3_endpoint: str | None = None  # s3 (with s3_bucket)
    s3_bucket: str | None = None
    kill_pause: tuple[float, float] = (1.5, 4.0)  # seconds between two chaos events
    keep_objects: bool = False  # keep every stored object and broker log, to study a failure

    def storage_flags(self) -> list[str]:
        if self.data_dir is not None:
            return ["--backend", "localfs", "--dir", str(self.data_dir)]
        assert self.s3_endpoint and self.s3_bucket
        return [
            "--backend", "s3", "--bucket", self.s3_bucket, "--prefix", S3_PREFIX,
            "--s3-endpoint", self.s3_endpoint, "--region", "us-east-1",
        ]  # fmt: skip

    def open_store(self) -> ObjectStore:
        if self.data_dir is not None:
            return LocalFSStore(self.data_dir)
        assert self.s3_bucket
        return S3Store(self.s3_bucket, prefix=S3_PREFIX, endpoint_url=self.s3_endpoint)


@dataclass
class Result:
    setup: Setup
    report: Report
    history: History
    figures: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)  # with Setup.keep_objects
    logs: list[list[str]] = field(default_factory=list)  # each broker process's log lines

    def summary(self) -> str:
        backend = "localfs" if self.setup.data_dir is not None else "s3"
        lines = [f"chaos {backend}, {self.setup.brokers} brokers, seed {self.setup.seed}:"]
        lines += [f"  {name}: {value}" for name, value in self.figures.items()]
        if self.report.violations:
            lines.append("violations:\n" + self.report.describe())
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        """The history and figures as JSON, to study a failure."""
        body = {
            "figures": self.figures,
            "violations": [vars(v) for v in self.report.violations],
            "ops": [op.as_dict() for op in self.history.ops],
            "objects": self.objects,
            "logs": self.logs,
        }
        path.write_text(json.dumps(body, default=str))


def broker_flags(setup: Setup) -> list[str]:
    return [
        *setup.storage_flags(),
        "--visibility-timeout", str(VISIBILITY_TIMEOUT),
        "--reaper-period", "0.3",
        "--heartbeat-period", "0.5",
        "--takeover-timeout", "3",
        "--completed-retention", str(COMPLETED_RETENTION),
        "--checkpoint-bytes", "16384",  # a checkpoint every 1 KiB of log or more
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def _running(cluster: Cluster) -> AsyncIterator[Cluster]:
    try:
        await cluster.start()
        yield cluster
    finally:
        cluster.close()


async def run_chaos(setup: Setup) -> Result:
    rng = random.Random(setup.seed)
    history = History()
    cluster = Cluster(broker_flags(setup), setup.brokers)
    started = time.monotonic()
    async with _running(cluster):
        workload = Workload(cluster, history, rng, TOPICS, VISIBILITY_TIMEOUT)
        await workload.create_groups()
        clients = [
            asyncio.create_task(run(f"{run.__name__.replace('_', '-')}{n}"))
            for n, run in enumerate(workload.tasks())
        ]
        chaos = asyncio.create_task(chaos_schedule(cluster, rng, workload.stop, setup.kill_pause))
        try:
            await asyncio.sleep(setup.seconds)
        finally:
            workload.stop.set()
            await chaos
            done, pending = await asyncio.wait(clients, timeout=CLIENTS_FINISH_SECONDS)
            for task in pending:
                task.cancel()  # a client stuck past every timeout; its op is recorded UNKNOWN
            await asyncio.gather(*clients, return_exceptions=True)
            await workload.close()
        for task in done:
            task.result()  # a client that crashed is a bug in the test: show it
        await cluster.restart_all()  # every start-up sweeps what killed writers left
        await cluster.stop()
        store = setup.open_store()
        try:
            if setup.data_dir is not None:
                files = local_files(setup.data_dir)
            else:
                files = await store.list("")
            storage = await read_storage(store, [*TOPICS, FAN_TOPIC], files)
            objects = await _objects(store, files) if setup.keep_objects else {}
        finally:
            await store.close()
    report = check(history, storage, Rules(VISIBILITY_TIMEOUT, COMPLETED_RETENTION))
    for problem in cluster.unclean:
        report.add("unclean_stop", f"a broker stopped with SIGTERM: {problem}")
    figures = {
        "seconds": round(time.monotonic() - started, 1),
        "kills": cluster.kills,
        "restarts": cluster.restarts,
        **report.figures,
        "broker_error_lines": len(cluster.error_lines()),
    }
    if cluster.error_lines():
        figures["first_error_lines"] = cluster.error_lines()[:3]
    logs = [daemon.log for daemon in cluster.retired] if setup.keep_objects else []
    return Result(setup, report, history, figures, objects, logs)


async def _objects(store: ObjectStore, keys: list[str]) -> dict[str, str]:
    """Every stored object under topics/ (log objects, checkpoints, pointers) as text."""
    found = {}
    for key in keys:
        if key.startswith("topics/") and "/." not in key:  # not temp or lock files
            found[key] = (await store.get(key)).data.decode("utf-8", "replace")
    return found
