"""`simplequeued` settings: flags, `SQ_*` environment variables, seed single-dash flags."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from common.limits import (
    HEARTBEAT_PERIOD_SECONDS,
    MAX_ATTEMPTS,
    MAX_PAYLOAD_BYTES,
    REAPER_PERIOD_SECONDS,
    RETENTION_JOBS,
    RETRY_SECONDS,
    TAKEOVER_TIMEOUT_SECONDS,
    VISIBILITY_TIMEOUT_SECONDS,
    Limit,
)
from common.settings import StorageSettings

from .checkpoints import DEFAULT_CHECKPOINT_BYTES
from .engine import EngineSettings
from .limits import DEFAULT_IDLE_SECONDS


def split_addr(value: str) -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` -> (host, port); ValueError when malformed."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{value!r} is not host:port (for example 127.0.0.1:8080 or :8080)")
    return host.strip("[]"), int(port_text)


def _within(limit: Limit) -> dict[str, Any]:
    """The Field bounds of a flag's range in common.limits."""
    return {"ge": limit.low, "le": limit.high} | ({} if limit.integer else {"allow_inf_nan": False})


class BrokerSettings(StorageSettings):
    """simplequeued: a job queue broker whose state lives on object storage."""

    addr: str = Field(
        default="127.0.0.1:8080",
        description="HTTP listen address host:port (':8080' listens on every interface; "
        "port 0 picks a free port)",
    )
    redis_addr: str = Field(
        default="",
        description="Redis-protocol listen address host:port; empty disables it",
    )
    broker_id: str = Field(
        default="", description="unique id of this broker in broker.json; empty: hostname:port"
    )
    advertise_addr: str = Field(
        default="",
        description="host (or host:port) clients should use to reach this broker, "
        "written to broker.json; empty: the listen host, or the hostname",
    )
    visibility_timeout: float = Field(
        default=30.0,
        gt=0,
        le=VISIBILITY_TIMEOUT_SECONDS.high,
        allow_inf_nan=False,
        description="seconds a claim lives without a heartbeat (at most a year)",
    )
    reaper_period: float = Field(
        default=5.0,
        **_within(REAPER_PERIOD_SECONDS),
        description="seconds between checks for expired claims (0.01 to 3600)",
    )
    max_attempts: int = Field(
        default=5,
        ge=MAX_ATTEMPTS.low,
        le=MAX_ATTEMPTS.high,
        description="claims before a failing job is dead (0 = unlimited; at most 1000000)",
    )
    retry_base: float = Field(
        default=1.0,
        **_within(RETRY_SECONDS),
        description="seconds a job nacked without a delay waits before its first retry; "
        "doubled at each attempt up to --retry-cap, with jitter (0: retry at once)",
    )
    retry_cap: float = Field(
        default=300.0,
        **_within(RETRY_SECONDS),
        description="the longest backoff of a nack without a delay, in seconds",
    )
    completed_retention: int = Field(
        default=1000,
        **_within(RETENTION_JOBS),
        description="completed jobs kept per topic for inspection",
    )
    dead_retention: int = Field(
        default=10_000,
        **_within(RETENTION_JOBS),
        description="dead jobs kept per topic; the oldest are dropped",
    )
    max_payload_bytes: int = Field(
        default=1024 * 1024,
        **_within(MAX_PAYLOAD_BYTES),
        description="largest accepted payload, in bytes of JSON (at most 64 MiB)",
    )
    checkpoint_bytes: int = Field(
        default=DEFAULT_CHECKPOINT_BYTES,
        ge=1024,
        description="a new checkpoint of a topic is written once the log since the last one "
        "holds a sixteenth of this many bytes (and a quarter of the checkpoint); each "
        "commit writes only its own changes either way",
    )
    heartbeat_period: float = Field(
        default=10.0,
        **_within(HEARTBEAT_PERIOD_SECONDS),
        description="seconds between broker.json heartbeats (0.01 to 3600)",
    )
    takeover_timeout: float = Field(
        default=30.0,
        **_within(TAKEOVER_TIMEOUT_SECONDS),
        description="seconds after which another broker's heartbeat is stale and taken over "
        "(0.01 to 86400)",
    )
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="most open connections per listener (HTTP and Redis each); more are "
        "refused. Default: what the open-file limit allows after keeping "
        "descriptors for storage, at most 10000",
    )
    idle_timeout: float = Field(
        default=DEFAULT_IDLE_SECONDS,
        gt=0,
        le=3600,
        description="seconds an HTTP connection may stay idle or take to send a "
        "request's headers and body, and a Redis connection may take to AUTH when "
        "--auth-token is set; then it is closed",
    )
    auth_token: str | None = Field(
        default=None,
        description="require 'Authorization: Bearer TOKEN' (HTTP) and AUTH TOKEN (Redis)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="log level: debug, info, warning or error"
    )

    @field_validator("addr", "redis_addr")
    @classmethod
    def _address(cls, value: str) -> str:
        if value:
            split_addr(value)
        return value

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            visibility_timeout=self.visibility_timeout,
            reaper_period=self.reaper_period,
            max_attempts=self.max_attempts,
            completed_retention=self.completed_retention,
            dead_retention=self.dead_retention,
            max_payload_bytes=self.max_payload_bytes,
            checkpoint_bytes=self.checkpoint_bytes,
            retry_base=self.retry_base,
            retry_cap=self.retry_cap,
        )
