"""The seed README's "Using the CLI" section, run as subprocesses against a daemon."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.support.cli import run_cli


def test_seed_readme_cli_section(daemon_factory: Any, tmp_path: Path) -> None:
    daemon = daemon_factory("-backend", "localfs", "-dir", str(tmp_path))
    broker = ["-broker", daemon.http_url]

    # Enqueue a job (ID auto-generated)
    auto = run_cli(*broker, "-topic", "orders", "enqueue", '{"item":"book"}')
    assert auto.status == 0, auto.stderr
    assert auto.json()["created"] is True
    auto_id = auto.json()["id"]
    assert uuid.UUID(auto_id)

    # Or with an explicit ID
    explicit = run_cli(*broker, "-topic", "orders", "enqueue", "--id", "job-1", '{"item":"book"}')
    assert explicit.status == 0, explicit.stderr
    assert explicit.json() == {"id": "job-1", "created": True}

    # Claim and process (FIFO: the auto-id job first, then job-1)
    first = run_cli(*broker, "-topic", "orders", "claim", "worker-1")
    assert first.status == 0, first.stderr
    assert first.json()["id"] == auto_id
    second = run_cli(*broker, "-topic", "orders", "claim", "worker-1")
    job = second.json()
    assert (job["id"], job["status"], job["claimed_by"]) == ("job-1", "claimed", "worker-1")
    assert job["payload"] == {"item": "book"}
    assert job["attempts"] == 1

    acked = run_cli(*broker, "-topic", "orders", "ack", "job-1")
    assert acked.status == 0, acked.stderr
    assert (acked.json()["id"], acked.json()["status"]) == ("job-1", "completed")

    # Check status
    status = run_cli(*broker, "-topic", "orders", "status")
    assert status.status == 0, status.stderr
    counts = status.json()
    assert counts["topic"] == "orders"
    assert (counts["pending"], counts["claimed"], counts["completed"], counts["total"]) == (
        0,
        1,
        1,
        2,
    )
    assert status.stderr == ""


def test_seed_commands_accept_host_port_and_flags_after_the_command(
    daemon_factory: Any, tmp_path: Path
) -> None:
    daemon = daemon_factory("-backend", "localfs", "-dir", str(tmp_path))
    host_port = daemon.http_url.removeprefix("http://")
    done = run_cli("enqueue", "--id", "a", "[1,2]", "--broker", host_port, "--topic", "t")
    assert done.status == 0, done.stderr
    shown = run_cli("--broker", host_port, "-topic", "t", "show", "a")
    assert shown.json()["payload"] == [1, 2]
