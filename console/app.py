"""Entry point of `sq-console` (placeholder until its issue lands)."""

import sys


def main() -> None:
    print("sq-console: not yet available", file=sys.stderr)
    raise SystemExit(1)
