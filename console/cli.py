"""Entry point of `simplequeue` (placeholder until its issue lands)."""

import sys


def main() -> None:
    print("simplequeue: not yet available", file=sys.stderr)
    raise SystemExit(1)
