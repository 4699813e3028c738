"""`make chaos`: a longer chaos run, figures printed at the end (tests/chaos/run.py).

    python -m tests.chaos --seconds 300 [--backend localfs|s3|both] [--seed N]

Exit status 0 when every check passed, 1 otherwise (the violations are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from tests.support.moto import create_bucket, running_moto

from .run import Result, Setup, run_chaos


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="chaos time per backend")
    parser.add_argument("--backend", choices=["localfs", "s3", "both"], default="both")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--brokers", type=int, default=None, help="default: 3 localfs, 2 s3")
    parser.add_argument("--save", type=Path, default=None, help="write each history here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    backends = ["localfs", "s3"] if args.backend == "both" else [args.backend]
    results: list[Result] = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="sq-chaos-") as tmp:
            if backend == "localfs":
                setup = Setup(
                    args.seconds, seed, args.brokers or 3, data_dir=Path(tmp),
                    keep_objects=args.save is not None,
                )  # fmt: skip
                result = asyncio.run(run_chaos(setup))
            else:
                with running_moto() as server:
                    bucket = create_bucket(server)
                    setup = Setup(
                        args.seconds, seed, args.brokers or 2,
                        s3_endpoint=server.endpoint_url, s3_bucket=bucket,
                        keep_objects=args.save is not None,
                    )  # fmt: skip
                    result = asyncio.run(run_chaos(setup))
        results.append(result)
        print(result.summary(), flush=True)
        if args.save is not None:
            result.save(args.save.with_name(f"{args.save.stem}-{backend}{args.save.suffix}"))
    return 0 if all(not r.report.violations for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
