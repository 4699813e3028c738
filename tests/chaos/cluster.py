"""Brokers of a chaos run: real `simplequeued` subprocesses sharing one storage.

Each broker has a fixed slot (0, 1, ...) and broker id; a restart starts a new process in
the slot (on new ports). The chaos schedule SIGKILLs and restarts brokers at random.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

from tests.support.daemon import Daemon, start_daemon

_ERROR_LINE = re.compile(r"\blevel=error\b")


@dataclass
class Cluster:
    flags: list[str]
    size: int
    daemons: list[Daemon | None] = field(default_factory=list)
    retired: list[Daemon] = field(default_factory=list)  # killed or stopped processes
    kills: int = 0
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)  # of the final SIGTERMs
    unclean: list[str] = field(default_factory=list)  # brokers that did not exit 0

    async def start(self) -> None:
        self.daemons = list(
            await asyncio.gather(*(self._launch(slot) for slot in range(self.size)))
        )

    async def _launch(self, slot: int) -> Daemon:
        flags = [*self.flags, "--broker-id", f"chaos-{slot}"]
        return await asyncio.to_thread(start_daemon, *flags, redis=True)

    def live(self) -> list[int]:
        return [slot for slot, daemon in enumerate(self.daemons) if daemon is not None]

    def daemon(self, slot: int) -> Daemon | None:
        return self.daemons[slot]

    async def kill(self, slot: int) -> None:
        daemon = self.daemons[slot]
        assert daemon is not None
        self.daemons[slot] = None
        await asyncio.to_thread(daemon.kill)
        self.retired.append(daemon)
        self.kills += 1

    async def restart(self, slot: int) -> None:
        assert self.daemons[slot] is None
        self.daemons[slot] = await self._launch(slot)
        self.restarts += 1

    async def restart_all(self) -> None:
        down = [slot for slot, daemon in enumerate(self.daemons) if daemon is None]
        await asyncio.gather(*(self.restart(slot) for slot in down))

    async def stop(self) -> None:
        """SIGTERM every live broker (in-flight writes land) and wait for it to exit."""
        live = [daemon for daemon in self.daemons if daemon is not None]
        self.exit_codes = list(await asyncio.gather(*(asyncio.to_thread(d.stop) for d in live)))
        self.retired += live
        for daemon, code in zip(live, self.exit_codes, strict=True):
            if code != 0:
                self.unclean.append(f"exit status {code}, log ends: {daemon.log[-5:]}")
        self.daemons = [None] * self.size

    def error_lines(self) -> list[str]:
        everyone = self.retired + [d for d in self.daemons if d is not None]
        return [line for d in everyone for line in d.log if _ERROR_LINE.search(line)]

    def close(self) -> None:
        for daemon in self.retired + [d for d in self.daemons if d is not None]:
            if daemon.proc.poll() is None:
                daemon.kill()
            if daemon.proc.stderr is not None:
                daemon.proc.stderr.close()


async def chaos_schedule(
    cluster: Cluster, rng: random.Random, stop: asyncio.Event, pause: tuple[float, float]
) -> None:
    """Until `stop`: after a random pause, bring back a broker that is down (sometimes
    leaving it down a while longer), then SIGKILL a random live one if another stays up."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(*pause))
            return
        except TimeoutError:
            pass
        for slot in range(cluster.size):
            if cluster.daemon(slot) is None and rng.random() < 0.7:
                await cluster.restart(slot)
        live = cluster.live()
        if len(live) > 1:
            await cluster.kill(rng.choice(live))
