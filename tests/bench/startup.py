"""Scenario 6: how long `simplequeue` takes to start and answer, next to `python -c pass`.

Scripts call the CLI in loops, so its start-up is its latency. Each round runs the three
commands once, one after the other, so that a busy machine slows all three alike:
`python -c pass` (the interpreter alone), `simplequeue --help` (parsing, no request) and
`simplequeue status` against a running broker (one request). The goal is a p50 under
300 ms; the ratio column is how many times `python -c pass` each one takes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .plan import Plan
from .report import Row, latency_ms
from .systems import simplequeued

GOAL_SECONDS = 0.3
PEER = "python -c pass"


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv!r} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return elapsed


def run_scenario(plan: Plan) -> list[Row]:
    rounds = plan.size(40, 10)
    cli = str(Path(sys.executable).with_name("simplequeue"))
    with simplequeued("--backend", "localfs", "--dir", str(plan.fresh_dir("sq-startup"))) as d:
        commands = {
            PEER: [sys.executable, "-c", "pass"],
            "simplequeue --help": [cli, "--help"],
            "simplequeue status": [cli, "--broker", d.http_url, "status"],
        }
        for argv in commands.values():  # warm the page cache and .pyc files
            _timed(argv)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                samples[name].append(_timed(argv))
    name = f"6 cli start-up n={rounds}"
    peer_p50 = latency_ms(samples[PEER])[0]
    rows = []
    for system, seconds in samples.items():
        p50, p99 = latency_ms(seconds)
        row = Row(name, system, len(seconds) / sum(seconds), p50, p99, extra={"seconds": seconds})
        if system != PEER and p50 is not None and peer_p50:
            row.ratio, row.peer = p50 / peer_p50, "slower than pass (p50)"
            row.goal = f"p50 < {GOAL_SECONDS * 1000:g} ms"
            row.met = p50 < GOAL_SECONDS * 1000
        rows.append(row)
    return rows
