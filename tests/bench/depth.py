"""Scenario 3: enqueue throughput over HTTP with 0, 10k and 100k jobs already pending.

The pending jobs are written into the topic's document before the broker starts, so every
commit of the run carries them."""

from __future__ import annotations

from typing import Any

from tests.support.documents import write_pending

from .load import Http, Recorder, run, run_clients
from .plan import Plan
from .report import Row, compare, latency_ms
from .systems import commit_stats, simplequeued

CLIENTS = 50
TOPIC = "bench-depth"
DEPTHS = (0, 10_000, 100_000)
GOAL = 0.5  # at the deepest queue, of the throughput on an empty one
PAYLOAD = {"order": 12345, "item": "book", "note": "x" * 60}


async def enqueue(http: Http, index: int, recorder: Recorder) -> None:
    await recorder.timed("enqueue", http.post(f"/topics/{TOPIC}/enqueue", {"payload": PAYLOAD}))


def enqueue_row(
    scenario: str, system: str, elapsed: float, recorder: Recorder, extra: dict[str, Any]
) -> Row:
    """Throughput and latency of an `enqueue` run, noting the mean commit batch."""
    samples = recorder.latencies["enqueue"]
    p50, p99 = latency_ms(samples)
    return Row(
        scenario,
        system,
        len(samples) / elapsed,
        p50,
        p99,
        note=f"mean commit: {extra.get('mean_batch', 0):g} jobs, "
        f"{extra.get('mean_commit_ms', 0):g} ms",
        extra={"seconds": elapsed, **extra},
    )


def run_scenario(plan: Plan) -> list[Row]:
    count = plan.size(5_000, 2_000)
    rows: list[Row] = []
    for depth in DEPTHS:
        root = plan.fresh_dir(f"sq-depth-{depth}")
        if depth:
            write_pending(root, TOPIC, depth, "x" * 100)
        with simplequeued("--backend", "localfs", "--dir", str(root)) as daemon:
            status, _ = daemon.request("GET", f"/topics/{TOPIC}/status", timeout=120)
            assert status == 200, status  # loaded before the clock starts
            elapsed, recorder = run(run_clients(daemon.http_url, CLIENTS, count, enqueue))
            commits = commit_stats(daemon)
        row = enqueue_row(
            f"3 depth {depth:,} pending, enqueue c={CLIENTS} n={count}",
            "simplequeued localfs",
            elapsed,
            recorder,
            {"depth": depth, **commits},
        )
        if depth:
            compare(row, rows[0], GOAL if depth == DEPTHS[-1] else None, "0 pending")
        rows.append(row)
    return rows
