"""The HTTP app's wiring: every route is documented in /openapi.json, metrics render."""

from __future__ import annotations

from broker.engine import Engine
from broker.http import make_app
from broker.http.openapi import openapi_document
from common.store import MemoryStore


def test_every_route_is_in_the_openapi_document() -> None:
    app = make_app(Engine(MemoryStore()))
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    paths = openapi_document("test")["paths"]
    documented = {(method, path) for path, ops in paths.items() for method in ops}
    assert served - {("get", "/openapi.json")} == documented


def test_metrics_render_prometheus_text() -> None:
    engine = Engine(MemoryStore())
    engine.metrics.commits.inc()
    engine.metrics.commit_bytes.inc(123_456_789)
    engine.metrics.batch_size.observe(3)
    engine.topic("orders")
    text = engine.metrics.render()
    assert "# TYPE sq_commits_total counter\nsq_commits_total 1\n" in text
    assert "# TYPE sq_commit_bytes_total counter\nsq_commit_bytes_total 123456789\n" in text
    assert 'sq_commit_batch_size_bucket{le="5"} 1' in text
    assert 'sq_topic_jobs{status="pending",topic="orders"} 0' in text
    assert 'sq_topic_jobs{status="delayed",topic="orders"} 0' in text
    assert "sq_commit_conflicts_total 0" in text


async def test_topic_job_gauges_count_delayed_jobs_apart_from_pending() -> None:
    engine = Engine(MemoryStore())
    topic = engine.topic("orders")
    await topic.enqueue("now")
    await topic.enqueue("later", delay=3600)
    text = engine.metrics.render()
    assert 'sq_topic_jobs{status="pending",topic="orders"} 1' in text
    assert 'sq_topic_jobs{status="delayed",topic="orders"} 1' in text
    await engine.stop()
