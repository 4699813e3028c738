"""Prometheus counters and histograms for `GET /metrics`, without a client library.

The broker needs a handful of series; rendering the text format by hand keeps the
dependency list short. Labels are fixed per series at creation.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable

LabelKey = tuple[tuple[str, str], ...]


def _labels(key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = key + extra
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in pairs)
    return "{" + inner + "}"


def _number(value: float) -> str:
    """A counter's value: whole numbers in full (`%g` would print 1.23457e+08 for a
    byte count), others as `%g`."""
    return str(int(value)) if value.is_integer() else f"{value:g}"


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self.values: dict[LabelKey, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        if not self.values:
            yield f"{self.name} 0"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(key)} {_number(value)}"


class Histogram:
    def __init__(self, name: str, help: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.buckets = name, help, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            yield f'{self.name}_bucket{{le="{bound:g}"}} {running}'
        yield f'{self.name}_bucket{{le="+Inf"}} {self.count}'
        yield f"{self.name}_sum {self.sum:g}"
        yield f"{self.name}_count {self.count}"


class Metrics:
    """Every series the broker exports. Gauges are read at scrape time from callbacks."""

    def __init__(self) -> None:
        self.requests = Counter("sq_requests_total", "HTTP requests by route and status")
        self.commits = Counter("sq_commits_total", "topic documents written")
        self.commit_bytes = Counter(
            "sq_commit_bytes_total",
            "bytes the commits wrote to storage (every object a commit created or replaced)",
        )
        self.conflicts = Counter(
            "sq_commit_conflicts_total", "writes that lost a compare-and-set race"
        )
        self.store_errors = Counter(
            "sq_commit_errors_total", "writes that failed with a storage error"
        )
        self.checkpoints = Counter(
            "sq_checkpoints_total", "checkpoints written (whole documents of big topics)"
        )
        self.batch_size = Histogram(
            "sq_commit_batch_size",
            "mutations carried by one write",
            (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        )
        self.commit_seconds = Histogram(
            "sq_commit_seconds",
            "time from taking a batch to its write landing",
            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.gauges: list[tuple[str, str, Callable[[], Iterable[tuple[LabelKey, float]]]]] = []

    def gauge(
        self, name: str, help: str, read: Callable[[], Iterable[tuple[LabelKey, float]]]
    ) -> None:
        self.gauges.append((name, help, read))

    def render(self) -> str:
        lines: list[str] = []
        for series in (
            self.requests,
            self.commits,
            self.commit_bytes,
            self.conflicts,
            self.store_errors,
            self.checkpoints,
        ):
            lines.extend(series.render())
        lines.extend(self.batch_size.render())
        lines.extend(self.commit_seconds.render())
        for name, help, read in self.gauges:
            lines.append(f"# HELP {name} {help}")
            lines.append(f"# TYPE {name} gauge")
            for key, value in read():
                lines.append(f"{name}{_labels(key)} {value:g}")
        return "\n".join(lines) + "\n"
