"""Result rows, percentiles, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    scenario: str
    system: str
    ops_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None  # to the scenario's peer (see `peer`)
    peer: str = ""
    goal: str = ""  # e.g. ">= 1.0x"; empty when the row has none
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


COMMIT_GOAL = 2.0  # issue 13: mean commit time <= 2x the primitive's


def percentile(samples: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_ms(samples: list[float]) -> tuple[float | None, float | None]:
    """p50 and p99 in milliseconds of latencies given in seconds."""
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    return (None if p50 is None else p50 * 1000, None if p99 is None else p99 * 1000)


def compare(row: Row, peer: Row | None, goal: float | None, peer_name: str = "") -> Row:
    """Fill `row`'s ratio to `peer` (and whether it meets `goal`, a minimum ratio)."""
    if peer is None or not peer.ops_per_s or row.ops_per_s is None:
        return row
    row.ratio = row.ops_per_s / peer.ops_per_s
    row.peer = peer_name or peer.system
    if goal is not None:
        row.goal = f">= {goal:g}x"
        row.met = row.ratio >= goal
    return row


def commit_row(scenario: str, commits: dict[str, float], primitive_ms: float) -> Row:
    """The mean commit time against the primitive's own cost for the mean commit size
    (goal: at most COMMIT_GOAL times it), with bytes per commit."""
    mean = commits["mean_commit_ms"]
    size = commits.get("bytes_per_commit", 0.0)
    if not size:  # a broker without sq_commit_bytes_total
        return Row(scenario, "simplequeued localfs: mean commit", note="no commit bytes")
    ratio = mean / primitive_ms if primitive_ms else None
    return Row(
        scenario=scenario,
        system="simplequeued localfs: mean commit",
        ratio=ratio,
        peer="primitive",
        goal=f"<= {COMMIT_GOAL:g}x",
        met=None if ratio is None else ratio <= COMMIT_GOAL,
        note=(
            f"{size / 1024:,.1f} KiB/commit, {commits['mean_batch']:g} requests/commit, "
            f"{commits['commits']:.0f} commits ({commits.get('checkpoints', 0):.0f} "
            f"checkpoints); commit {mean:g} ms vs write+fsync+rename+dir-fsync of "
            f"{size / 1024:,.1f} KiB {primitive_ms:g} ms"
        ),
        extra={**commits, "primitive_ms": primitive_ms},
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


HEADERS = ("scenario", "system", "ops/s", "p50 ms", "p99 ms", "ratio", "goal", "notes")


def table(rows: list[Row]) -> str:
    """A Markdown table (readable in a terminal and pasteable into the README)."""
    lines = []
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x {row.peer}".strip()
        verdict = "" if row.met is None else ("met" if row.met else "MISSED")
        goal = f"{row.goal} {verdict}".strip()
        lines.append(
            (
                row.scenario,
                row.system,
                _fmt(row.ops_per_s, 0),
                _fmt(row.p50_ms, 2),
                _fmt(row.p99_ms, 2),
                ratio,
                goal,
                row.note,
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(HEADERS)]

    def render(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [render(HEADERS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(render(line) for line in lines)
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "commit": commit,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def write_json(path: Path, rows: list[Row], info: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **info,
        "rows": [asdict(row) for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
