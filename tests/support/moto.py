"""S3 for tests: moto's server on a free loopback port, reached over real HTTP.

`moto_server` (session) starts one server and exposes its `endpoint_url`; `s3_bucket`
creates a fresh bucket per test and returns its name. Dummy credentials are put in the
environment so that the standard AWS chain finds them and nothing reaches AWS.

moto checks a conditional PUT's `If-Match`/`If-None-Match` and then writes, as two separate
steps, so two concurrent PUTs with the same `If-Match` can both succeed: a compare-and-set
that is not atomic. The server here therefore handles one request at a time (`Serialized`,
a lock around moto's WSGI dispatch), which makes every conditional write atomic, as S3's
are; tests/chaos/test_moto_serialized.py shows the difference.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

REGION = "us-east-1"

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # Never consult a developer's profile or an instance metadata endpoint.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str


class Serialized:
    """WSGI middleware: one request at a time through `app`, response body included."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return list(result)  # drain it under the lock: moto may build it lazily
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class SerializedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose requests are handled one at a time (see the module
    docstring); `serialize=False` gives moto's own concurrent handling."""

    def __init__(self, *, serialize: bool = True) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self._serialize = serialize

    def _server_entry(self) -> None:
        app: Any = DomainDispatcherApplication(create_backend_app)
        if self._serialize:
            app = Serialized(app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@contextlib.contextmanager
def fake_aws_env() -> Iterator[None]:
    """The dummy credentials in os.environ (inherited by subprocesses), restored after."""
    saved = {name: os.environ.get(name) for name in [*FAKE_AWS_ENV, "AWS_PROFILE"]}
    os.environ.update(FAKE_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def running_moto(*, serialize: bool = True) -> Iterator[MotoServer]:
    """A moto server on a free loopback port, with the dummy credentials in place."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with fake_aws_env():
        server = SerializedMotoServer(serialize=serialize)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield MotoServer(endpoint_url=f"http://{host}:{port}")
        finally:
            server.stop()


def create_bucket(server: MotoServer) -> str:
    """A new, empty bucket on `server`; returns its name."""
    name = f"sq-test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    return name


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    return create_bucket(moto_server)
