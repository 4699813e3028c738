"""How results are printed: JSON for scripts (the default), aligned text for people."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from pydantic import BaseModel

    from common.models import Job, TopicStats


@dataclass(frozen=True, slots=True)
class Output:
    data: Any  # what --format json prints
    text: str  # what --format table prints
    status: int = 0  # the exit status (console.cli.exits), for answers that are not errors
    lines: list[Any] | None = None  # what --format jsonl prints, a line each (default: data)


def plain(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def emit(output: Output, fmt: str) -> None:
    if fmt == "table":
        text = output.text + "\n"
    elif fmt == "jsonl":
        lines = output.lines if output.lines is not None else [output.data]
        text = "".join(orjson.dumps(line).decode() + "\n" for line in lines)
    else:
        text = orjson.dumps(output.data, option=orjson.OPT_INDENT_2).decode() + "\n"
    sys.stdout.write(text)
    sys.stdout.flush()


def emit_line(data: Any) -> None:
    """One compact JSON line (JSON Lines), for streams such as `work`."""
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


def _cell(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def pairs(rows: Sequence[tuple[str, Any]]) -> str:
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name.ljust(width)}  {_cell(value, 100)}" for name, value in rows)


def columns(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(header)] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


ATTEMPT_COLUMNS = ("claimed_at", "took", "outcome", "worker", "error")


def attempt_cells(attempt: dict[str, Any]) -> list[str]:
    """An attempt of a job's `history` (JSON) as table cells: how long it took instead of
    a second timestamp; the one in flight has not ended."""
    ended = attempt.get("ended_at")
    return [
        attempt["claimed_at"],
        "" if ended is None else _took(attempt["claimed_at"], ended),
        attempt.get("outcome", "in flight"),
        attempt.get("worker", ""),
        attempt.get("error", ""),
    ]


def _took(start: str, end: str) -> str:
    """`850ms`, `2.5s`, `4.2m`, `3.1h`."""
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds * 1000:.0f}ms"


def job_output(job: Job, headline: str | None = None) -> Output:
    data = plain(job)
    text = pairs([(name, value) for name, value in data.items() if name != "history"])
    if "history" in data:
        attempts = columns(ATTEMPT_COLUMNS, [attempt_cells(a) for a in data["history"]])
        text += f"\n\nattempts, oldest first:\n{attempts}"
    return Output(data, f"{headline}\n{text}" if headline else text)


def stats_output(stats: dict[str, Any]) -> Output:
    """A topic's status from the broker's JSON (a TopicStats), unset fields left out as
    plain() leaves them out of a model."""
    data = {name: value for name, value in stats.items() if value is not None}
    counters = data.get("counters", {})
    rows = [
        *((k, v) for k, v in data.items() if k != "counters"),
        *((f"lifetime {k}", v) for k, v in counters.items()),
    ]
    return Output(data, pairs(rows))


STATS_COLUMNS = ("topic", "pending", "delayed", "claimed", "completed", "dead", "total")


def topics_output(topics: list[TopicStats]) -> Output:
    """Every topic; one the broker cannot load shows `-` counts and its error."""
    broken = any(t.error for t in topics)
    paused = any(t.paused for t in topics)  # the column only when it says something
    rows = []
    for t in topics:
        counts = [getattr(t, name) for name in STATS_COLUMNS[1:]]
        row = [t.topic, *(["-"] * len(counts) if t.error else counts)]
        row += ["paused" if t.paused else ""] if paused else []
        rows.append([*row, t.error or ""] if broken else row)
    header = (*STATS_COLUMNS, *(["paused"] if paused else []), *(["error"] if broken else []))
    listed = [plain(t) for t in topics]
    return Output({"topics": listed}, columns(header, rows), lines=listed)


def jobs_output(jobs: list[Job], cursor: str | None) -> Output:
    header = ("id", "status", "attempts", "claimed_by", "created_at", "payload")
    rows = [
        [
            job.id,
            job.status.value,
            job.attempts,
            job.claimed_by or "",
            plain(job)["created_at"],
            job.payload,
        ]
        for job in jobs
    ]
    text = columns(header, rows) + (f"\nmore: --after {cursor}" if cursor else "")
    listed = [plain(j) for j in jobs]
    # JSON lines carry jobs only; a script paging with --after reads `next` from --format json.
    return Output({"jobs": listed, "next": cursor}, text, lines=listed)
