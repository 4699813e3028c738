"""Entry point of `simplequeued` (placeholder until its issue lands)."""

import sys


def main() -> None:
    print("simplequeued: not yet available", file=sys.stderr)
    raise SystemExit(1)
