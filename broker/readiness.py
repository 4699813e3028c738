"""Readiness: can this broker do its job right now? (`GET /readyz`; `/healthz` says only
that the process is alive.)

Not ready while it is starting, when the last topic storage request or the last registry
heartbeat failed, or while a listener is at its connection cap. Each check returns the
reason in one line, or None when it passes.
"""

from __future__ import annotations

from collections.abc import Callable

from .limits import ConnectionCap

Check = Callable[[], str | None]
STARTING = "starting: storage, listeners and the broker registry are not all set up yet"


class Readiness:
    def __init__(self) -> None:
        self.started = False
        self._checks: list[Check] = []

    def add(self, check: Check) -> None:
        self._checks.append(check)

    def add_cap(self, listener: str, cap: ConnectionCap) -> None:
        def at_cap() -> str | None:
            if not cap.full:
                return None
            return (
                f"{listener} connections at the cap ({cap.limit}, --max-connections): "
                "new clients are refused"
            )

        self.add(at_cap)

    def reasons(self) -> list[str]:
        """Why the broker is not ready; empty when it is."""
        if not self.started:
            return [STARTING]
        return [reason for check in self._checks if (reason := check()) is not None]
