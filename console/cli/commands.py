"""One coroutine per `simplequeue` command; each returns what to print.

A command that sends one request (all but `work` and `--discover`) goes through the
client's BlockingTransport and does not import pydantic unless it validates a model, so
that `simplequeue status` answers before aiohttp and pydantic could even be imported.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from common.client import AiohttpTransport, BlockingTransport, Client
from common.errors import ClientError
from common.limits import TOPIC_SETTINGS
from common.payload import InexactInteger, check_exact_integers
from console.cli import exits
from console.cli.output import (
    Output,
    columns,
    job_output,
    jobs_output,
    stats_output,
    topics_output,
)
from console.cli.parser import DEFAULT_BROKER, UsageError

if TYPE_CHECKING:
    from common.settings import StorageSettings


def broker_url(text: str) -> str:
    """Accept `host:port` as well as a URL, as the seed's examples use both."""
    return text if "://" in text else f"http://{text}"


def storage_settings(args: argparse.Namespace) -> StorageSettings:
    from pydantic import ValidationError

    from common.settings import StorageSettings, describe_error

    given = {
        name: getattr(args, name)
        for name in StorageSettings.model_fields
        if getattr(args, name, None) is not None
    }
    try:
        return StorageSettings(**given)
    except ValidationError as exc:
        raise UsageError(describe_error(exc)) from None


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[Client]:
    """The client the flags ask for: --broker URL, or the broker registered in storage."""
    options: dict[str, Any] = {"token": args.token or None, "timeout": args.timeout}
    # `work` runs heartbeats beside each job: it needs concurrent requests.
    one_at_a_time = args.cmd != "work"
    if not args.discover:
        transport = BlockingTransport if one_at_a_time else AiohttpTransport
        url = broker_url(args.broker or DEFAULT_BROKER)
        async with Client(url, transport=transport, **options) as client:
            yield client
        return
    if args.broker:
        raise UsageError("give either --broker or --discover, not both")
    from common.store import open_store

    store = open_store(storage_settings(args))
    try:
        client = await Client.discover(store, max_age=args.max_age, **options)
        async with client:
            yield client
    finally:
        await store.close()


def read_payload(text: str, *, raw: bool) -> Any:
    if text == "-":
        text = sys.stdin.read()
    if raw:
        return text
    try:
        check_exact_integers(text.encode())
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(
            f"the payload is not valid JSON ({exc}); write text as '\"text\"' or pass --raw"
        ) from None
    except InexactInteger as exc:
        raise UsageError(f"the payload is refused: {exc}") from None


BATCH_LINES = 1000  # jobs per request of `enqueue --batch`: one commit each


def read_batch(source: str, *, raw: bool) -> list[Any]:
    """Every non-empty line of a file ('-': stdin) as a payload, all checked before any is
    sent, so a bad line enqueues nothing."""
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as file:
                text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {exc}") from None
    payloads = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            payloads.append(read_payload(line, raw=raw))
        except UsageError as exc:
            raise UsageError(f"{source} line {number}: {exc}") from None
    return payloads


async def enqueue_batch(client: Client, args: argparse.Namespace) -> Output:
    if args.payload is not None or args.id is not None:
        raise UsageError("--batch takes the payloads from the file: give no payload or --id")
    payloads = read_batch(args.batch, raw=args.raw)
    ids: list[str] = []
    for start in range(0, len(payloads), BATCH_LINES):
        chunk = payloads[start : start + BATCH_LINES]
        jobs = [{"payload": payload, "delay_seconds": args.delay} for payload in chunk]
        try:
            ids += await client.enqueue_many(args.topic, jobs)
        except ClientError as exc:
            if ids:
                exc.message = f"{exc.message} (the first {len(ids)} lines were enqueued)"
            raise
    text = f"enqueued {len(ids)} jobs" + (f": {ids[0]} ... {ids[-1]}" if ids else "")
    return Output({"ids": ids, "enqueued": len(ids)}, text, lines=[{"id": i} for i in ids])


async def enqueue(client: Client, args: argparse.Namespace) -> Output:
    if args.batch is not None:
        return await enqueue_batch(client, args)
    if args.payload is None:
        raise UsageError("enqueue needs a payload (or --batch FILE)")
    payload = read_payload(args.payload, raw=args.raw)
    done = await client.enqueue_job(args.topic, payload, id=args.id, delay=args.delay)
    text = f"enqueued: {done.id}" if done.created else f"already enqueued: {done.id}"
    return Output({"id": done.id, "created": done.created}, text)


async def claim(client: Client, args: argparse.Namespace) -> Output:
    return job_output(await client.claim_one(args.topic, args.worker_id, wait=args.wait))


async def ack(client: Client, args: argparse.Namespace) -> Output:
    job = await client.ack(args.topic, args.job_id, worker_id=args.worker_id)
    return job_output(job, "acked")


async def nack(client: Client, args: argparse.Namespace) -> Output:
    job = await client.nack(
        args.topic, args.job_id, delay=args.delay, error=args.error, worker_id=args.worker_id
    )
    return job_output(job, "nacked")


async def heartbeat(client: Client, args: argparse.Namespace) -> Output:
    job = await client.heartbeat(args.topic, args.job_id, worker_id=args.worker_id)
    return job_output(job, "heartbeat sent")


async def status(client: Client, args: argparse.Namespace) -> Output:
    return stats_output(await client.status_json(args.topic))


async def topics(client: Client, args: argparse.Namespace) -> Output:
    return topics_output(await client.topics())


async def health(client: Client, args: argparse.Namespace) -> Output:
    data = await client.health()
    fields = "\n".join(f"{k}: {orjson.dumps(v).decode()}" for k, v in data.items())
    status = exits.OK if data.get("ready", True) else exits.NOT_READY
    return Output(data, f"{readiness_line(data)}\n{fields}", status)


def readiness_line(health: dict[str, Any]) -> str:
    """The headline of `health`: ready, or not ready and why (from /healthz's fields)."""
    if health.get("ready", True):
        return "ready"
    return "NOT READY: " + "; ".join(health.get("reasons") or ["no reason given"])


async def jobs(client: Client, args: argparse.Namespace) -> Output:
    found, cursor = await client.jobs(
        args.topic, status=args.status, limit=args.limit, after=args.after
    )
    return jobs_output(found, cursor)


async def show(client: Client, args: argparse.Namespace) -> Output:
    return job_output(await client.job(args.topic, args.job_id))


async def requeue(client: Client, args: argparse.Namespace) -> Output:
    return job_output(await client.requeue(args.topic, args.job_id), "requeued")


async def delete(client: Client, args: argparse.Namespace) -> Output:
    return job_output(await client.delete(args.topic, args.job_id), "deleted")


WORKER_COLUMNS = (
    "worker",
    "claims",
    "oldest_claim",
    "last_heartbeat",
    "claimed",
    "acked",
    "nacked",
)


async def workers(client: Client, args: argparse.Namespace) -> Output:
    rows = await client.workers(args.topic)
    table = columns(WORKER_COLUMNS, [[row.get(c) or "" for c in WORKER_COLUMNS] for row in rows])
    return Output({"workers": rows}, table, lines=rows)


async def purge(client: Client, args: argparse.Namespace) -> Output:
    removed = await client.purge(args.topic, status=args.status)
    which = f"{args.status} jobs" if args.status else "jobs"
    return Output({"removed": removed}, f"purged {removed} {which} from {args.topic}")


async def requeue_dead(client: Client, args: argparse.Namespace) -> Output:
    requeued = await client.requeue_dead(args.topic, error=args.error)
    return Output({"requeued": requeued}, f"requeued {requeued} dead jobs of {args.topic}")


def settings_output(view: dict[str, Any]) -> Output:
    """A TopicSettingsView (JSON): each setting in force and where it comes from."""
    own = set(view.get("overridden", []))
    rows = [
        (name, value, "topic" if name in own else "broker flag")
        for name, value in view.get("settings", {}).items()
    ]
    return Output(view, columns(("setting", "value", "from"), rows))


async def settings(client: Client, args: argparse.Namespace) -> Output:
    topic = args.topic_arg or args.topic
    changes = {
        name: value for name in TOPIC_SETTINGS if (value := getattr(args, name, None)) is not None
    }
    for name in args.clear:
        if name in changes:
            raise UsageError(f"--clear {name} and --{name.replace('_', '-')} contradict each other")
        changes[name] = None
    if not changes:
        return settings_output(await client.settings(topic))
    return settings_output(await client.change_settings(topic, changes))


async def pause(client: Client, args: argparse.Namespace) -> Output:
    topic = args.topic_arg or args.topic
    await client.change_settings(topic, {"paused": True})
    return Output({"topic": topic, "paused": True}, f"paused {topic}: claims find nothing")


async def resume(client: Client, args: argparse.Namespace) -> Output:
    topic = args.topic_arg or args.topic
    await client.change_settings(topic, {"paused": False})
    return Output({"topic": topic, "paused": False}, f"resumed {topic}")


async def reset_invalid(client: Client, args: argparse.Namespace) -> Output:
    moved_to = await client.reset_invalid(args.topic)
    text = f"topic {args.topic} reset: its invalid document was moved to {moved_to}"
    return Output({"topic": args.topic, "moved_to": moved_to}, text)


Command = Callable[[Client, argparse.Namespace], Awaitable[Output]]

COMMANDS: dict[str, Command] = {
    "enqueue": enqueue,
    "claim": claim,
    "ack": ack,
    "nack": nack,
    "heartbeat": heartbeat,
    "status": status,
    "topics": topics,
    "health": health,
    "jobs": jobs,
    "show": show,
    "requeue": requeue,
    "delete": delete,
    "reset-invalid": reset_invalid,
    "workers": workers,
    "purge": purge,
    "requeue-dead": requeue_dead,
    "settings": settings,
    "pause": pause,
    "resume": resume,
}
