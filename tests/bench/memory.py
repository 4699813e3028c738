"""Scenario 5: a broker started on a topic of 1M pending 100-byte jobs: resident memory,
and the time from starting the process to its first successful claim.

The topic is measured as simplequeued stores it: the bench writes a whole document, a
first broker loads it and serves one claim (which writes the topic's checkpoint and
head), and stops; the broker that is measured starts on that checkpoint and head."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.documents import write_pending

from .plan import Plan
from .report import Row
from .systems import rss_kib, simplequeued

TOPIC = "bench-memory"
JOBS = 1_000_000
GOAL_RSS_MIB = 1024.0
GOAL_FIRST_CLAIM_S = 5.0


def run_scenario(plan: Plan) -> list[Row]:
    jobs = plan.size(JOBS, JOBS)
    root = plan.fresh_dir("sq-memory")
    path = write_pending(root, TOPIC, jobs, "x" * 100)
    size_mib = path.stat().st_size / 2**20
    whole_start, _, _, _ = _start_and_claim(root)  # leaves the topic as the broker stores it
    first_claim, listening, loaded, memory = _start_and_claim(root)
    rss, hwm = memory["VmRSS"] / 1024, memory["VmHWM"] / 1024
    name = f"5 memory+start-up {jobs:,} pending x 100 B ({size_mib:,.0f} MiB document)"
    extra = {
        "jobs": jobs,
        "document_mib": size_mib,
        "rss_mib": rss,
        "hwm_mib": hwm,
        "listening_s": listening,
        "first_claim_s": first_claim,
        "loaded_s": loaded,
        "first_claim_from_whole_document_s": whole_start,
    }
    return [
        Row(
            name,
            "simplequeued localfs: RSS with the topic loaded",
            goal=f"< {GOAL_RSS_MIB:,.0f} MiB",
            met=rss < GOAL_RSS_MIB,
            note=f"VmRSS {rss:,.0f} MiB, peak VmHWM {hwm:,.0f} MiB",
            extra=extra,
        ),
        Row(
            name,
            "simplequeued localfs: start to first claim",
            goal=f"< {GOAL_FIRST_CLAIM_S:g} s",
            met=first_claim < GOAL_FIRST_CLAIM_S,
            note=f"first claim {first_claim:.2f} s (listening after {listening:.2f} s, whole "
            f"topic loaded after {loaded:.2f} s; {whole_start:.2f} s from a whole "
            "format-1 document)",
            extra=extra,
        ),
    ]


def _start_and_claim(root: Path) -> tuple[float, float, float, dict[str, int]]:
    """Start a broker on `root`, claim one job, then wait for the whole topic to be
    loaded (status answers only then): seconds to the claim, to listening and to the
    whole topic, and the broker's memory then."""
    started = time.perf_counter()
    with simplequeued("--backend", "localfs", "--dir", str(root)) as daemon:
        listening = time.perf_counter() - started
        status, body = daemon.request(
            "POST", f"/topics/{TOPIC}/claim", {"worker_id": "bench"}, timeout=300
        )
        first_claim = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"first claim failed: {status} {body!r}")
        status, body = daemon.request("GET", f"/topics/{TOPIC}/status", timeout=300)
        loaded = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"status failed: {status} {body!r}")
        return first_claim, listening, loaded, rss_kib(daemon.proc.pid)
