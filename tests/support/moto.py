"""S3 for tests: moto's server on a free loopback port, reached over real HTTP.

`moto_server` (session) starts one `ThreadedMotoServer` and exposes its `endpoint_url`;
`s3_bucket` creates a fresh bucket per test and returns its name. Dummy credentials are
put in the environment so that the standard AWS chain finds them and nothing reaches AWS.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"

_FAKE_AWS_ENV = {
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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    saved = {name: os.environ.get(name) for name in [*_FAKE_AWS_ENV, "AWS_PROFILE"]}
    os.environ.update(_FAKE_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    name = f"sq-test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=moto_server.endpoint_url, region_name=REGION)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    return name
