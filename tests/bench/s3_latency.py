"""Scenario 4: the s3 backend (moto) with 50 ms added to every write, 200 enqueuers.

Shows group commit amortizing a slow store: one write carries every enqueue that arrived
while the previous write was in flight."""

from __future__ import annotations

import boto3

from .depth import enqueue, enqueue_row
from .launcher import LATENCY_ENV
from .load import run, run_clients
from .plan import Plan
from .report import Row, compare
from .systems import FAKE_AWS_ENV, commit_stats, moto_server, simplequeued

CLIENTS = 200
GOAL_OPS = 2_000.0
BUCKET = "sq-bench"


def run_scenario(plan: Plan) -> list[Row]:
    count = plan.size(10_000, 4_000)
    latencies = (0.0, 0.05)
    rows: list[Row] = []
    with moto_server() as endpoint:
        for latency in latencies:
            bucket = f"{BUCKET}-{round(latency * 1000)}"
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            s3.create_bucket(Bucket=bucket)
            env = {**FAKE_AWS_ENV, LATENCY_ENV: str(latency)}
            flags = ("--backend", "s3", "--bucket", bucket, "--s3-endpoint", endpoint)
            with simplequeued(*flags, env=env, module="tests.bench.launcher") as daemon:
                elapsed, recorder = run(run_clients(daemon.http_url, CLIENTS, count, enqueue))
                commits = commit_stats(daemon)
            row = enqueue_row(
                f"4 s3 (moto) enqueue c={CLIENTS} n={count}",
                f"simplequeued s3 +{latency * 1000:g} ms/write",
                elapsed,
                recorder,
                {"write_latency_s": latency, **commits},
            )
            if latency:
                compare(row, rows[0], None, "+0 ms")
                row.goal = f">= {GOAL_OPS:,.0f} ops/s"
                row.met = count / elapsed >= GOAL_OPS
            rows.append(row)
    return rows
