"""The command line of `simplequeue`: global flags, one subcommand per operation.

The seed's spelling works unchanged (`simplequeue -broker URL -topic T enqueue --id ID
'<json>'`): every long global flag is also accepted with a single dash, and global flags may
come before or after the command.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any, NoReturn

from common.limits import (
    DELAY_SECONDS,
    MAX_ERROR_CHARS,
    MAX_ID_CHARS,
    PAGE_LIMIT,
    TOPIC_SETTINGS,
    WAIT_SECONDS,
    Limit,
    OutOfRange,
)
from common.status import JobStatus
from console.cli.exits import EXIT_CODES_HELP, USAGE

DEFAULT_BROKER = "http://localhost:8080"
WATCH_SECONDS = Limit(0.1, 3600.0)
STATUSES = [status.value for status in JobStatus]
DEFAULT_TOPIC = "default"
GLOBAL_FLAGS_HELP = """\
The global flags (--broker URL, --topic T, --token, --timeout, --format, --discover and
its storage flags) go before or after the command: see simplequeue --help."""


class UsageError(Exception):
    """A mistake in the command line that the parser could not see (exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of usage plus message."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(USAGE)


def _flag(group: argparse._ActionsContainer, name: str, **kw: object) -> None:
    """A long flag that also answers to the seed's single-dash spelling."""
    group.add_argument(f"-{name}", f"--{name}", **kw)  # type: ignore[arg-type]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _within(limit: Limit) -> Callable[[str], Any]:
    """An argparse type checking a number against its range in common.limits (the range
    the broker enforces, so a bad value is a usage error before any request)."""

    def parse(text: str) -> Any:
        try:
            return limit.parse("value", text)
        except OutOfRange as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None

    return parse


def _id(text: str) -> str:
    if not 0 < len(text) <= MAX_ID_CHARS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_ID_CHARS} characters")
    return text


def _error_text(text: str) -> str:
    if len(text) > MAX_ERROR_CHARS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_ERROR_CHARS} characters")
    return text


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def _global_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Flags every command takes. In subcommands they default to SUPPRESS so that a flag
    given before the command is not reset by the subcommand's default, and their help is
    hidden: a subcommand's help lists its own flags and points to `simplequeue --help`."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    def flag(group: argparse._ActionsContainer, name: str, **kw: object) -> None:
        _flag(group, name, **kw | ({} if top else {"help": argparse.SUPPRESS}))

    broker = parser.add_argument_group("broker")
    flag(
        broker,
        "broker",
        metavar="URL",
        default=default(os.environ.get("SQ_BROKER")),
        help=f"broker address (env SQ_BROKER; default {DEFAULT_BROKER})",
    )
    flag(
        broker,
        "topic",
        metavar="T",
        default=default(os.environ.get("SQ_TOPIC", DEFAULT_TOPIC)),
        help=f"topic name (env SQ_TOPIC; default {DEFAULT_TOPIC})",
    )
    flag(
        broker,
        "token",
        metavar="TOKEN",
        default=default(os.environ.get("SQ_AUTH_TOKEN")),
        help="bearer token, when the broker has --auth-token (env SQ_AUTH_TOKEN)",
    )
    flag(
        broker,
        "timeout",
        metavar="SECONDS",
        type=_seconds,
        default=default(10.0),
        help="per-request timeout (default 10)",
    )
    flag(
        broker,
        "format",
        choices=["json", "jsonl", "table"],
        default=default("json"),
        help="json (default, for scripts), jsonl (one compact line per job or topic, for "
        "pipelines) or table (for people)",
    )
    found = parser.add_argument_group("discovery (find the broker through broker.json)")
    flag(
        found,
        "discover",
        action="store_true",
        default=default(False),
        help="read the broker address from the storage instead of --broker",
    )
    flag(
        found,
        "backend",
        choices=["localfs", "s3"],
        default=default(None),
        help="storage backend (env SQ_BACKEND; default localfs)",
    )
    flag(found, "dir", default=default(None), help="localfs directory (env SQ_DIR)")
    flag(found, "bucket", default=default(None), help="S3 bucket (env SQ_BUCKET)")
    flag(found, "prefix", default=default(None), help="key prefix in the bucket")
    flag(found, "s3-endpoint", metavar="URL", default=default(None), help="S3 endpoint URL")
    flag(found, "region", default=default(None), help="S3 region")
    flag(
        found,
        "max-age",
        metavar="SECONDS",
        type=_seconds,
        default=default(30.0),
        help="refuse a broker whose registry heartbeat is older (default 30)",
    )


def _job_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", metavar="job-id", type=_id, help="the job's id")


def _worker_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--worker-id", help="the worker that holds the job (checked by the broker when given)"
    )


def _topic_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "topic_arg", nargs="?", metavar="TOPIC", help="the topic (default: --topic)"
    )


#: `settings` flags: what each setting means, for its help (the range comes from limits.py).
SETTING_HELP = {
    "visibility_timeout": ("SECONDS", "a claim lives this long without a heartbeat"),
    "max_attempts": ("N", "claims before a failing job is dead (0: unlimited)"),
    "completed_retention": ("N", "completed jobs kept"),
    "dead_retention": ("N", "dead jobs kept (the oldest are dropped)"),
    "retry_base": ("SECONDS", "first backoff of a nack without a delay, doubled per attempt"),
    "retry_cap": ("SECONDS", "longest such backoff"),
}


def _settings_flags(sub: argparse.ArgumentParser) -> None:
    for name, (metavar, meaning) in SETTING_HELP.items():
        limit = TOPIC_SETTINGS[name]
        assert limit is not None
        sub.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_within(limit),
            metavar=metavar,
            help=f"{meaning}; {limit.describe()}",
        )
    sub.add_argument(
        "--clear",
        action="append",
        default=[],
        choices=list(TOPIC_SETTINGS),
        metavar="NAME",
        help="drop the topic's own value of setting NAME (the broker's flag applies again); "
        "repeatable. NAME: " + ", ".join(TOPIC_SETTINGS),
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="simplequeue",
        description="Scripting client of a simplequeue broker. Prints JSON on stdout; "
        "errors are one line on stderr.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    _global_flags(parser, top=True)
    common = Parser(add_help=False, allow_abbrev=False)
    _global_flags(common, top=False)
    commands = parser.add_subparsers(dest="cmd", metavar="<command>", required=True)

    def command(name: str, summary: str, details: str = "") -> Parser:
        sub: Parser = commands.add_parser(
            name,
            help=summary,
            description=textwrap.fill(f"{summary}. {details}" if details else summary, 80),
            parents=[common],
            allow_abbrev=False,
            epilog=f"{GLOBAL_FLAGS_HELP}\n\n{EXIT_CODES_HELP}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    sub = command("enqueue", "add a job; prints its id")
    sub.add_argument(
        "--id", type=_id, help="job id (default: a new UUID); an existing id is not re-added"
    )
    sub.add_argument(
        "--delay", type=_within(DELAY_SECONDS), metavar="SECONDS", help="make it claimable later"
    )
    sub.add_argument("--raw", action="store_true", help="send the payload as a plain string")
    sub.add_argument(
        "--batch",
        metavar="FILE",
        help="enqueue every line of FILE ('-': stdin) as one job: JSON lines, one payload "
        "each (with --raw, each line as text); sent 1000 lines per request, one commit each",
    )
    sub.add_argument("payload", nargs="?", help="the payload as JSON ('-' reads it from stdin)")

    sub = command("claim", "claim the next job for a worker; prints the job (exit 3: none)")
    sub.add_argument("worker_id", metavar="worker-id", help="who claims it")
    sub.add_argument(
        "--wait", type=_within(WAIT_SECONDS), metavar="SECONDS", help="long-poll this long"
    )

    sub = command("ack", "mark a claimed job completed")
    _job_id(sub)
    _worker_id(sub)

    sub = command("nack", "give a claimed job back for a retry (dead after max attempts)")
    _job_id(sub)
    _worker_id(sub)
    sub.add_argument(
        "--delay", type=_within(DELAY_SECONDS), metavar="SECONDS", help="retry no sooner"
    )
    sub.add_argument("--error", type=_error_text, help="why it failed (kept on the job)")

    sub = command("heartbeat", "extend the lease of a claimed job")
    _job_id(sub)
    _worker_id(sub)

    for name, summary in (
        ("status", "job counts of the topic"),
        ("topics", "every topic with its job counts"),
    ):
        sub = command(name, summary)
        sub.add_argument(
            "--watch",
            nargs="?",
            const=2.0,
            type=_within(WATCH_SECONDS),
            metavar="SECONDS",
            help="ask again every SECONDS (default 2) until Ctrl-C; a table is redrawn in "
            "place on a terminal, JSON is printed as one line per answer",
        )
    command("health", "the broker's health and settings")

    sub = command("jobs", "list the topic's jobs in enqueue order")
    sub.add_argument("--status", choices=STATUSES, help="only these")
    sub.add_argument(
        "--limit", type=_within(PAGE_LIMIT), default=100, help="at most this many (1-1000)"
    )
    sub.add_argument("--after", metavar="JOB-ID", help="start after this job (the 'next' cursor)")

    sub = command("show", "one job")
    _job_id(sub)
    sub = command("requeue", "put a dead or claimed job back to pending, attempts reset")
    _job_id(sub)
    sub = command("delete", "remove a pending or dead job")
    _job_id(sub)

    command(
        "workers",
        "the workers seen on the topic",
        "Claims in flight, the oldest claim and the last heartbeat come from the topic's "
        "stored claims; claimed, acked and nacked count what each worker did through this "
        "broker since it first saw it. A worker is remembered while it holds a claim and "
        "for 15 minutes after it was last seen.",
    )
    sub = command(
        "purge",
        "remove every job of the topic, or every job of one status, in one commit",
        "Claimed jobs go too: their workers get 'not found' on ack. The topic keeps its "
        "lifetime counters; `purged` counts what was removed. Prints how many.",
    )
    sub.add_argument("--status", choices=STATUSES, help="only jobs of this status")
    sub = command(
        "requeue-dead",
        "put every dead job back to pending (attempts reset), in one commit",
        "They keep their place in the queue. Prints how many.",
    )
    sub.add_argument(
        "--error", metavar="TEXT", type=_error_text, help="only jobs whose last error contains TEXT"
    )

    sub = command(
        "settings",
        "show or change the topic's settings",
        "Without flags: each setting in force and whether the topic sets it or it is the "
        "broker's flag. With flags: set them (and --clear others) in one commit, then show.",
    )
    _topic_arg(sub)
    _settings_flags(sub)
    sub = command(
        "pause",
        "pause the topic: claims, pops and group reads find nothing; enqueues still land",
    )
    _topic_arg(sub)
    sub = command("resume", "resume a paused topic: waiting claims get its jobs")
    _topic_arg(sub)

    command(
        "reset-invalid",
        "move the topic's invalid document aside and start the topic empty",
        "Only when the broker found the stored document invalid (exit 6 otherwise). The "
        "bytes are kept under topics/<topic>/invalid-<time>-<token>.json; prints that key.",
    )

    sub = command(
        "work",
        "run a command for each claimed job (exit 0 acks, else nack)",
        "The payload goes to its stdin; SQ_JOB_ID, SQ_TOPIC, SQ_ATTEMPTS and SQ_WORKER_ID "
        "are in its environment; its stdout and stderr go to stderr. A non-zero exit nacks "
        "the job with the end of its stderr. Prints one JSON line per job. One argument runs "
        "through the shell, several are run directly. The first SIGINT/SIGTERM finishes the "
        "current job, a second one abandons it (nacked for a retry).",
    )
    sub.add_argument("--worker-id", help="worker name (default: host-pid)")
    sub.add_argument("--max-jobs", type=_positive_int, help="stop after this many jobs")
    sub.add_argument(
        "--burst",
        action="store_true",
        help="exit (status 0) once the topic has no job to claim, instead of waiting for more",
    )
    sub.add_argument(
        "--wait",
        type=_within(WAIT_SECONDS),
        default=10.0,
        metavar="SECONDS",
        help="long-poll (default 10)",
    )
    sub.add_argument(
        "--nack-delay", type=_within(DELAY_SECONDS), metavar="SECONDS", help="retry delay"
    )
    sub.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- command", help="to run")
    return parser
