"""Export of a view to a JSON file (the `x` key). No Textual here."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson

from common.models import Job, TopicDocument, format_time
from console.model import ViewSpec


def export_view(
    directory: Path, doc: TopicDocument, spec: ViewSpec, jobs: list[Job], now: datetime
) -> Path:
    """Write a view's jobs (as the document holds them) to a new JSON file in `directory`:
    `sq-<topic>-<view>-<UTC time>.json`, with the view's description and time."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"sq-{doc.topic}-{spec.kind.value}-{stamp}.json"
    body = {
        "topic": doc.topic,
        "view": spec.describe(),
        "exported_at": format_time(now),
        "generation": doc.generation,
        "count": len(jobs),
        "jobs": [job.model_dump(mode="json", exclude_none=True) for job in jobs],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    return path
