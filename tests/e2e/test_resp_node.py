"""ioredis (Node) against `simplequeued --redis-addr`: lists, a pipeline, MULTI, a blocking
pop woken by another connection, and a consumer group (tests/e2e/node/ioredis_client.js);
and two consumer groups on one stream, against redis-server and simplequeued alike
(tests/e2e/node/ioredis_groups.js).

`make test` installs the Node packages (`npm ci` in tests/e2e/node); without Node or
them this test fails rather than skips."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from typing import Any

from tests.support.daemon import REPO_ROOT, Daemon

NODE_DIR = REPO_ROOT / "tests" / "e2e" / "node"
TIMEOUT = 120.0


def run_node(script: str, *args: str) -> dict[str, Any]:
    """Run a script of tests/e2e/node; returns the JSON object it prints."""
    node = shutil.which("node")
    assert node, "node is missing: install Node.js (Debian: apt-get install nodejs npm)"
    assert (NODE_DIR / "node_modules" / "ioredis").is_dir(), (
        "ioredis is not installed: run `make test` (it runs npm ci in tests/e2e/node)"
    )
    run = subprocess.run(
        [node, script, *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def test_ioredis_lists_blocking_and_a_consumer_group(resp_daemon: Daemon) -> None:
    prefix = f"ioredis-{uuid.uuid4().hex[:8]}"
    out = run_node("ioredis_client.js", str(resp_daemon.redis_port), prefix)
    assert out["lpush"] == 1 and out["rpush"] == 3 and out["llen"] == 3
    assert out["lrange"] == ["one", "two", "three"]
    assert out["rpop"] == "one"  # every pop takes the oldest job
    assert out["pipeline"] == [[None, 3], [None, 3]]
    assert out["multi"] == [[None, "two"], [None, "three"]]
    assert out["brpop"] == [f"{prefix}-wait", "woken"]
    assert out["xgroup"] == "OK"
    assert out["xadd_matches"] is True
    assert out["xreadgroup"] == [[True, [[True, ["action", "click", "user", "ada"]]]]]
    assert out["xpending"][0] == 1 and out["xpending"][3] == [["w1", "1"]]
    assert out["xack"] == 1
    assert out["xpending_after"][0] == 0
    assert out["xlen"] == 1


def test_ioredis_two_groups_on_one_stream_each_receive_every_entry(redis_url: str) -> None:
    out = run_node("ioredis_groups.js", redis_url, f"ioredis-groups-{uuid.uuid4().hex[:8]}")
    ids = out["ids"]
    entries = [[entry_id, ["n", str(n)]] for n, entry_id in enumerate(ids)]
    assert out["create"] == ["OK", "OK"]
    assert out["busygroup"].startswith("BUSYGROUP")
    assert out["mailer"] == entries and out["search"] == entries
    assert out["mailer_again"] is None  # m2 gets nothing: m1 took every entry of mailer
    assert out["mailer_ack"] == 3
    assert out["mailer_pending"] == [0, None, None, None]
    assert out["search_pending"] == [3, ids[0], ids[-1], [["s1", "3"]]]  # acks are per group
    groups = [dict(zip(group[0::2], group[1::2], strict=True)) for group in out["groups"]]
    assert [(g["name"], g["pending"]) for g in groups] == [("mailer", 0), ("search", 3)]
    assert {g["last-delivered-id"] for g in groups} == {ids[-1]}
    assert out["search_ack"] == 3
    assert out["search_pending_after"][0] == 0
    assert out["type"] == "stream"
