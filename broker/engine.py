"""The engine: every topic of one broker process (broker/DESIGN.md, "The engine").

Topics are created lazily on first use; each owns a GroupCommitter. `start()` loads the
topics already in storage in the background so their reapers run after a restart even
if no client touches them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from common.keys import TOPICS_PREFIX, topic_from_key, topic_key, validate_topic
from common.store import ObjectStore

from .checkpoints import DEFAULT_CHECKPOINT_BYTES
from .committer import GroupCommitter
from .errors import StorageUnavailable
from .metrics import LabelKey, Metrics
from .mutations import EnqueueResult, NewJob
from .state import Limits
from .topic import Topic

__all__ = ["Engine", "EngineSettings", "EnqueueResult", "NewJob", "Topic"]

log = logging.getLogger("simplequeue.broker")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    visibility_timeout: float = 30.0
    reaper_period: float = 5.0
    max_attempts: int = 5  # 0 = unlimited
    completed_retention: int = 1000
    dead_retention: int = 10_000
    max_payload_bytes: int = 1024 * 1024
    checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES
    retry_base: float = 1.0  # seconds: a nack without a delay backs off from here
    retry_cap: float = 300.0

    def limits(self) -> Limits:
        return Limits(
            visibility_timeout_ms=round(self.visibility_timeout * 1000),
            max_attempts=self.max_attempts,
            completed_retention=self.completed_retention,
            dead_retention=self.dead_retention,
            retry_base_ms=round(self.retry_base * 1000),
            retry_cap_ms=round(self.retry_cap * 1000),
        )


# The disjoint counts of a topic's status (common.models.TopicStats), in that order.
COUNTED_STATUSES = ("pending", "delayed", "claimed", "completed", "dead")


class Engine:
    def __init__(
        self,
        store: ObjectStore,
        settings: EngineSettings | None = None,
        writer: str = "simplequeued",
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or EngineSettings()
        self.writer = writer
        self.metrics = metrics or Metrics()
        self._topics: dict[str, Topic] = {}
        self._committers: dict[str, GroupCommitter] = {}
        self._preload: asyncio.Task[None] | None = None
        self.metrics.gauge(
            "sq_topic_jobs",
            "jobs in a topic by status (pending is claimable now; delayed is pending later)",
            self._depths,
        )
        self.metrics.gauge(
            "sq_long_polls",
            "requests waiting for a topic's next commit (claim/document wait, BRPOP, BLOCK)",
            lambda: [((), float(sum(c.waiting for c in self._committers.values())))],
        )

    async def start(self) -> None:
        self._preload = asyncio.get_running_loop().create_task(self._load_existing())

    async def stop(self) -> None:
        """Finish in-flight and queued commits, then stop every topic's loop."""
        if self._preload is not None:
            self._preload.cancel()
        await asyncio.gather(*(c.close() for c in self._committers.values()))

    def topic(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            validate_topic(name)
            committer = GroupCommitter(
                name,
                topic_key(name),
                self.store,
                self.settings.limits(),
                self.writer,
                self.metrics,
                self.settings.reaper_period,
                self.settings.checkpoint_bytes,
            )
            topic = Topic(name, committer, self.settings.max_payload_bytes)
            self._topics[name] = topic
            self._committers[name] = committer
        return topic

    async def topic_names(self) -> list[str]:
        try:
            keys = await self.store.list_level(TOPICS_PREFIX)
        except Exception as exc:
            raise StorageUnavailable(f"could not list topics: {exc}; retry") from exc
        names = {name for key in keys if (name := topic_from_key(key)) is not None}
        names.update(name for name, topic in self._topics.items() if topic.generation > 0)
        return sorted(names)

    async def _load_existing(self) -> None:
        try:
            names = await self.topic_names()
        except Exception as exc:  # storage may be down at start; topics then load lazily
            log.warning("could not preload topics error=%r", exc)
            return
        for name in names:
            committer = self._committers.get(name) or self.topic(name)._c
            try:
                await committer.load()
            except StorageUnavailable as exc:  # one broken topic must not stop the others
                log.warning("could not preload topic=%s error=%s", name, exc.message)
                continue
            committer.start()

    def _depths(self) -> list[tuple[LabelKey, float]]:
        out: list[tuple[LabelKey, float]] = []
        for name, topic in sorted(self._topics.items()):
            stats = topic.stats()
            for status in COUNTED_STATUSES:
                key = (("status", status), ("topic", name))
                out.append((key, float(getattr(stats, status))))
        return out
