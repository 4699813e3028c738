"""Flags of `sq-console` (every one also reads `SQ_<NAME>`).

Where the console reads from:
- no storage flags and no `--broker`: localfs `./sq-data`, the broker's default;
- `--backend s3 --bucket B ...` or `--dir D`: that storage, broker found through broker.json;
- `--broker URL` alone: no storage access at all; the broker's document long-poll feeds the
  tables and the broker is never re-discovered (it is pinned);
- `--broker URL` with storage flags: storage is tailed, actions go to the pinned URL.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from common.settings import StorageSettings

_STORAGE_FIELDS = frozenset({"backend", "dir", "bucket", "prefix", "s3_endpoint", "region"})


def default_worker_id() -> str:
    return f"sq-console@{socket.gethostname()}"


class ConsoleSettings(StorageSettings):
    """Storage flags plus how the console reaches the broker and how much it shows."""

    # memfs lives inside one broker process: a console can never read it.
    backend: Literal["localfs", "s3"] = Field(
        default="localfs", description="storage backend: localfs or s3"
    )
    broker: str | None = Field(
        default=None,
        description="broker URL (http://host:port); alone, the console reads no storage",
    )
    token: str | None = Field(default=None, description="bearer token of the broker's --auth-token")
    poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="seconds between storage polls (s3) and broker health checks",
    )
    row_cap: int = Field(
        default=1000,
        ge=10,
        description="most rows the jobs table shows at once; more are windowed",
    )
    export_dir: Path = Field(
        default=Path("."),
        description="directory where x (export) writes the current view as JSON",
    )
    worker_id: str = Field(
        default_factory=default_worker_id,
        description="worker id the console claims jobs as (default: sq-console@HOSTNAME)",
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _not_memfs(cls, value: object) -> object:
        if value == "memfs":
            raise ValueError(
                "--backend memfs lives inside one process; use localfs, s3 or --broker URL"
            )
        return value

    @field_validator("broker")
    @classmethod
    def _broker_is_a_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "--broker must be an http:// or https:// URL, e.g. http://127.0.0.1:8080"
            )
        return value

    @property
    def reads_storage(self) -> bool:
        """False when only `--broker` was given: the console then never touches storage."""
        return self.broker is None or bool(self.model_fields_set & _STORAGE_FIELDS)

    def source(self) -> str:
        """Where the tables' data comes from, for the header."""
        return self.location() if self.reads_storage else f"broker {self.broker}"
