"""Scenario 2: enqueue -> claim -> ack cycles over HTTP from concurrent aiohttp clients."""

from __future__ import annotations

from .load import Http, Recorder, run, run_clients
from .plan import Plan
from .primitive import commit_primitive_ms
from .report import Row, commit_row, latency_ms
from .systems import commit_stats, cpu_seconds, simplequeued

CLIENTS = 50
TOPIC = "bench-http"


async def cycle(http: Http, index: int, recorder: Recorder) -> None:
    path = f"/topics/{TOPIC}"
    await recorder.timed("enqueue", http.post(f"{path}/enqueue", {"payload": {"n": index}}))
    claimed = await recorder.timed(
        "claim", http.post(f"{path}/claim", {"worker_id": f"w{index}"}, expect=(200, 404))
    )
    if claimed and "job" in claimed:
        body = {"job_id": claimed["job"]["id"], "worker_id": f"w{index}"}
        await recorder.timed("ack", http.post(f"{path}/ack", body))


def run_scenario(plan: Plan) -> list[Row]:
    cycles = plan.size(5_000, 1_500)
    data = plan.fresh_dir("sq-http")
    with simplequeued("--backend", "localfs", "--dir", str(data)) as daemon:
        cpu_before = cpu_seconds(daemon.proc.pid)
        elapsed, recorder = run(run_clients(daemon.http_url, CLIENTS, cycles, cycle))
        cpu_us = 1e6 * (cpu_seconds(daemon.proc.pid) - cpu_before) / max(1, recorder.count())
        commits = commit_stats(daemon)
    primitive = commit_primitive_ms(data / "primitive", round(commits["bytes_per_commit"]))
    name = f"2 http cycle c={CLIENTS} n={cycles}"
    everything = [s for samples in recorder.latencies.values() for s in samples]
    p50, p99 = latency_ms(everything)
    rows = [
        Row(
            name,
            "simplequeued localfs: all requests",
            recorder.count() / elapsed,
            p50,
            p99,
            note=f"{cycles / elapsed:,.0f} cycles/s, {cpu_us:.0f} µs CPU/request; mean commit: "
            f"{commits['mean_batch']:g} requests, {commits['mean_commit_ms']:g} ms",
            extra={"seconds": elapsed, "cpu_us_per_request": cpu_us, **commits},
        )
    ]
    for op, samples in recorder.latencies.items():
        p50, p99 = latency_ms(samples)
        rows.append(Row(name, f"simplequeued localfs: {op}", len(samples) / elapsed, p50, p99))
    rows.append(commit_row(name, commits, primitive))
    return rows
