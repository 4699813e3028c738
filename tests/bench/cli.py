"""`python -m tests.bench [--quick] [--scenario NAME ...] [--out PATH]` (what `make bench` runs)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import (
    console_idle,
    depth,
    group_fanout,
    http_cycle,
    memory,
    resp_durable,
    s3_latency,
    startup,
    systems,
)
from .plan import Plan
from .report import Row, machine, table, write_json
from .systems import ToolMissing

SCENARIOS: dict[str, Callable[[Plan], list[Row]]] = {
    "resp": resp_durable.run,
    "http": http_cycle.run_scenario,
    "depth": depth.run_scenario,
    "s3": s3_latency.run_scenario,
    "memory": memory.run_scenario,
    "startup": startup.run_scenario,
    "console": console_idle.run_scenario,
    "groups": group_fanout.run_scenario,
}
DEFAULT_OUT = Path("bench-results/latest.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench ARGS=...",
        description="Benchmark simplequeued against Redis on this machine (loopback).",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run only this scenario (repeatable; default: all, in the order listed)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests per scenario")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="raw results as JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample every simplequeued run with py-spy; flame graphs (SVG) go to DIR",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="scratch directory (default: a temp dir)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    systems.profile_dir = args.profile
    work = Path(tempfile.mkdtemp(prefix="sq-bench-", dir=args.work_dir))
    plan = Plan(work=work, quick=args.quick)
    info = {"machine": machine(), "quick": args.quick, "scenarios": names}
    rows: list[Row] = []
    failed = False
    try:
        for name in names:
            print(f"== {name} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                new = SCENARIOS[name](plan)
            except ToolMissing as exc:
                new = [Row(name, "-", note=f"skipped: {exc}")]
                failed = True
            except Exception as exc:
                traceback.print_exc()
                new = [Row(name, "-", note=f"failed: {exc}".splitlines()[0][:200])]
                failed = True
            print(table(new), file=sys.stderr)
            print(f"   ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
            rows += new
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(args.out, rows, info)
    m = info["machine"]
    print(f"\nsimplequeue benchmarks: {m['nproc']} CPU {m['cpu']}, Python {m['python']}")
    print(table(rows))
    print(f"\nraw figures: {args.out}")
    if failed:
        raise SystemExit(1)
