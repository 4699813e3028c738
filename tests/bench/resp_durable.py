"""Scenario 1: `redis-benchmark -t lpush,rpop` against Redis (AOF, fsync always) and
simplequeued on localfs, both durable before they answer."""

from __future__ import annotations

import csv
import io
import subprocess

from .plan import Plan
from .primitive import commit_primitive_ms
from .report import Row, commit_row, compare
from .systems import commit_stats, cpu_seconds, find_tool, redis_server, simplequeued

CLIENTS = 50
# Minimum ratio to Redis by pipeline depth (issue 13); the long-term goal is 1.0x and 0.5x.
GOALS = {1: 0.5, 16: 0.25}


def redis_benchmark(port: int, requests: int, pipeline: int) -> dict[str, dict[str, float]]:
    """Per test (LPUSH, RPOP): rps and latency figures from `redis-benchmark --csv`."""
    args = [
        find_tool("redis-benchmark"),
        "-h", "127.0.0.1", "-p", str(port), "-t", "lpush,rpop", "-n", str(requests),
        "-c", str(CLIENTS), "-P", str(pipeline), "--csv",
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {done.stderr.strip()[-300:]}")
    results: dict[str, dict[str, float]] = {}
    for record in csv.DictReader(io.StringIO(done.stdout)):
        results[record["test"]] = {k: float(v) for k, v in record.items() if k != "test"}
    if not results:
        raise RuntimeError(f"redis-benchmark printed no results: {done.stdout[-300:]!r}")
    return results


def _measured(
    pid: int, port: int, requests: int, pipeline: int
) -> tuple[dict[str, dict[str, float]], float]:
    """redis-benchmark's figures, and the broker's CPU time per command (µs) meanwhile."""
    before = cpu_seconds(pid)
    figures = redis_benchmark(port, requests, pipeline)
    return figures, 1e6 * (cpu_seconds(pid) - before) / (requests * len(figures))


def _row(name: str, system: str, figures: dict[str, float]) -> Row:
    return Row(
        scenario=name,
        system=system,
        ops_per_s=figures["rps"],
        p50_ms=figures.get("p50_latency_ms"),
        p99_ms=figures.get("p99_latency_ms"),
        extra=figures,
    )


def run(plan: Plan) -> list[Row]:
    requests = plan.size(100_000, 20_000)
    rows: list[Row] = []
    for pipeline in (1, 16):
        with redis_server(plan.fresh_dir(f"redis-P{pipeline}")) as port:
            peer = redis_benchmark(port, requests, pipeline)
        data = plan.fresh_dir(f"sq-resp-P{pipeline}")
        with simplequeued("--backend", "localfs", "--dir", str(data), redis=True) as daemon:
            assert daemon.redis_port is not None
            ours, cpu_us = _measured(daemon.proc.pid, daemon.redis_port, requests, pipeline)
            commits = commit_stats(daemon)
        size = round(commits.get("bytes_per_commit", 0.0))
        primitive = commit_primitive_ms(data / "primitive", size)
        redis_rows: dict[str, Row] = {}
        for test in ("LPUSH", "RPOP"):
            name = f"1 resp {test} -c{CLIENTS} -P{pipeline} n={requests}"
            redis_row = redis_rows[test] = _row(name, "redis appendfsync always", peer[test])
            row = _row(name, "simplequeued localfs", ours[test])
            row.note = (
                f"LPUSH+RPOP: {cpu_us:.0f} µs CPU/command, {commits['commits']:.0f} commits, "
                f"mean {commits['mean_commit_ms']:g} ms"
            )
            row.extra.update(commits, cpu_us_per_command=cpu_us)
            rows += [redis_row, compare(row, redis_row, GOALS[pipeline], "redis")]
        name = f"1 resp LPUSH+RPOP -c{CLIENTS} -P{pipeline} n={requests}"
        rows.append(commit_row(name, commits, primitive))
        # The same load with storage in memory: what the hot path costs without any
        # write to wait for (its CPU ceiling), not durable, so no goal.
        with simplequeued("--backend", "memfs", redis=True) as daemon:
            assert daemon.redis_port is not None
            in_memory, cpu_us = _measured(daemon.proc.pid, daemon.redis_port, requests, pipeline)
        for test in ("LPUSH", "RPOP"):
            name = f"1 resp {test} -c{CLIENTS} -P{pipeline} n={requests}"
            row = _row(name, "simplequeued memfs (not durable)", in_memory[test])
            row.note = f"no storage write to wait for; LPUSH+RPOP: {cpu_us:.0f} µs CPU/command"
            row.extra["cpu_us_per_command"] = cpu_us
            rows.append(compare(row, redis_rows[test], None, "redis"))
    return rows
