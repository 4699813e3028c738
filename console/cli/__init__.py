"""`simplequeue`, the scripting CLI (entry point `console.cli:main`).

    simplequeue [-broker URL] [-topic T] <command> [args...]

Results are JSON on stdout (`--format table` for people); an error is one line on stderr
and a distinct exit status (console.cli.exits).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from common.errors import ClientError
from console.cli import exits
from console.cli.parser import UsageError, build_parser

# Only what parsing needs is imported up front: `--help` and a usage error never load the
# HTTP client (aiohttp) or the models (pydantic); _dispatch imports what its command uses.


def _fail(message: str, status: int) -> int:
    print(f"simplequeue: error: {' '.join(message.split())}", file=sys.stderr)
    return status


async def _dispatch(args: argparse.Namespace) -> int:
    if args.cmd == "work":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            raise UsageError("work needs a command to run: simplequeue work -- <command>")
        args.argv = argv
    from console.cli.commands import COMMANDS, connect
    from console.cli.output import emit

    async with connect(args) as client:
        if args.cmd == "work":
            from console.cli.work import work

            return await work(client, args)
        if getattr(args, "watch", None):
            from console.cli.watch import watch

            return await watch(client, args)
        output = await COMMANDS[args.cmd](client, args)
        emit(output, args.format)
    return output.status


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="simplequeue: %(message)s")
    import asyncio

    # A one-request command waits inside http.client (the client's BlockingTransport), where
    # asyncio.run's own SIGINT handler, which only cancels the task, would not be seen until
    # the reply came: Ctrl-C raises at once instead. `work` handles its signals itself.
    one_request = args.cmd != "work"
    previous = signal.signal(signal.SIGINT, _interrupt) if one_request else None
    try:
        return asyncio.run(_dispatch(args))
    except UsageError as exc:
        return _fail(f"{exc} (see simplequeue --help)", exits.USAGE)
    except ClientError as exc:
        return _fail(exc.message, exits.exit_code(exc))
    except KeyboardInterrupt:
        if getattr(args, "watch", None):
            return exits.OK  # Ctrl-C is how a watch ends
        return _fail("interrupted", exits.INTERRUPTED)
    except Exception as exc:  # a bug or an environment problem: still one line
        return _fail(f"unexpected {type(exc).__name__}: {exc}", exits.ERROR)
    finally:
        if one_request:
            signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(run(argv))
