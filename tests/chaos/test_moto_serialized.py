"""moto's conditional PUT is atomic only when its requests are serialized (tests/support/moto.py).

moto checks `If-Match` and then writes. Both PUTs below are held just before the write
until the other one arrives there too (a barrier in moto's backend): without the lock both
pass the check and both "win" the same compare-and-set; with it, the second PUT is checked
only after the first wrote, and gets 412.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.s3.models import S3Backend

from tests.support.moto import REGION, create_bucket, running_moto


def racing_conditional_puts(monkeypatch: pytest.MonkeyPatch, serialize: bool) -> list[str]:
    """Two PUTs with the same If-Match at once; returns each one's outcome."""
    with running_moto(serialize=serialize) as server:
        bucket = create_bucket(server)
        config = Config(retries={"max_attempts": 1})
        clients = [
            boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION, config=config)
            for _ in range(2)
        ]
        etag = clients[0].put_object(Bucket=bucket, Key="doc", Body=b"v0")["ETag"]
        # Serialized, the first PUT waits here alone: only the timeout lets it go on.
        barrier = threading.Barrier(2, timeout=1.0 if serialize else 30.0)
        original = S3Backend.put_object

        def put_object(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            return original(self, *args, **kwargs)

        monkeypatch.setattr(S3Backend, "put_object", put_object)

        def put(n: int) -> str:
            try:
                clients[n].put_object(Bucket=bucket, Key="doc", Body=b"v%d" % (n + 1), IfMatch=etag)
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])
            return "ok"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(put, range(2)))
        monkeypatch.undo()
        for client in clients:
            client.close()
        return outcomes


def test_moto_alone_lets_two_puts_win_one_compare_and_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert racing_conditional_puts(monkeypatch, serialize=False) == ["ok", "ok"]


def test_serialized_moto_lets_exactly_one_win(monkeypatch: pytest.MonkeyPatch) -> None:
    assert racing_conditional_puts(monkeypatch, serialize=True) == ["PreconditionFailed", "ok"]
