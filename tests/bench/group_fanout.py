"""Scenario 8: what consumer groups cost per XADD batch, in bytes written.

An XADD writes its entry once, whatever the number of named consumer groups: a group
writes only when it delivers or acks (broker/groups.py). The scenario sends the same
pipelined XADD batches to a stream with 0, 1 and 3 groups and reports the bytes written
per XADD and per commit (`sq_commit_bytes_total`, from the broker's /metrics: a commit
holds as many XADDs as arrived together, so bytes per XADD is the figure to compare);
the goal is 3 groups within 10% of none.
"""

from __future__ import annotations

import redis

from .plan import Plan
from .report import Row
from .systems import commit_stats, simplequeued

GROUPS = (0, 1, 3)
BATCH = 100  # XADDs per pipeline
GOAL = 1.1  # bytes per XADD with 3 groups <= 1.1x those with none


def _written(plan: Plan, groups: int, batches: int) -> dict[str, float]:
    """Bytes written by `batches` pipelines of XADDs to a stream with `groups` groups."""
    folder = plan.fresh_dir(f"sq-groups-{groups}")
    with (
        simplequeued("--backend", "localfs", "--dir", str(folder), redis=True) as daemon,
        redis.Redis(port=daemon.redis_port or 0, socket_timeout=60) as client,
    ):
        for n in range(groups):
            client.xgroup_create("events", f"g{n}", "$", mkstream=True)
        before = commit_stats(daemon)
        for batch in range(batches):
            pipe = client.pipeline(transaction=False)
            for n in range(BATCH):
                pipe.xadd("events", {"order": f"{batch}-{n}", "pad": "x" * 64})
            pipe.execute()
        after = commit_stats(daemon)
    commits = after["commits"] - before["commits"]
    written = after["bytes_per_commit"] * after["commits"]
    written -= before["bytes_per_commit"] * before["commits"]
    return {
        "commits": commits,
        "bytes_per_xadd": written / (batches * BATCH),
        "bytes_per_commit": written / max(commits, 1),
    }


def run_scenario(plan: Plan) -> list[Row]:
    batches = plan.size(50, 10)
    found = {groups: _written(plan, groups, batches) for groups in GROUPS}
    name = f"8 xadd pipelines of {BATCH} n={batches}"
    base = found[0]["bytes_per_xadd"]
    rows = []
    for groups, figures in found.items():
        note = f"{figures['bytes_per_xadd']:.0f} B/XADD, {figures['bytes_per_commit']:.0f} B/commit"
        row = Row(name, f"{groups} groups", note=note)
        row.extra = figures
        if groups and base:
            row.ratio, row.peer = figures["bytes_per_xadd"] / base, "bytes of 0 groups"
            row.goal = f"<= {GOAL}x"
            row.met = row.ratio <= GOAL
        rows.append(row)
    return rows
