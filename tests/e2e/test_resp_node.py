"""ioredis (Node) against `simplequeued --redis-addr`: lists, a pipeline, MULTI, a blocking
pop woken by another connection, and a consumer group (tests/e2e/node/ioredis_client.js).

`make test` installs the Node packages (`npm ci` in tests/e2e/node); without Node or
them this test fails rather than skips."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

from tests.support.daemon import REPO_ROOT, Daemon

NODE_DIR = REPO_ROOT / "tests" / "e2e" / "node"
TIMEOUT = 120.0


def test_ioredis_lists_blocking_and_a_consumer_group(resp_daemon: Daemon) -> None:
    node = shutil.which("node")
    assert node, "node is missing: install Node.js (Debian: apt-get install nodejs npm)"
    assert (NODE_DIR / "node_modules" / "ioredis").is_dir(), (
        "ioredis is not installed: run `make test` (it runs npm ci in tests/e2e/node)"
    )
    prefix = f"ioredis-{uuid.uuid4().hex[:8]}"
    run = subprocess.run(
        [node, "ioredis_client.js", str(resp_daemon.redis_port), prefix],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
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
