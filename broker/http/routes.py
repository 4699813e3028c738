"""The HTTP routes (team brief, "HTTP wire contract"): the seed's routes and bodies plus
the extensions. Handlers only translate JSON to engine calls and back."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from common.models import Job, JobStatus

from .. import __version__
from ..engine import NewJob, Topic
from ..errors import InvalidRequest, JobNotFound
from . import body as b
from .appkeys import ENGINE
from .errors import error_response
from .openapi import openapi_document

MAX_WAIT_SECONDS = 300.0
MAX_BATCH = 10_000

routes = web.RouteTableDef()


def _topic(request: web.Request) -> Topic:
    return request.app[ENGINE].topic(request.match_info["topic"])


def _job(job: Job) -> dict[str, Any]:
    return job.model_dump(mode="json", exclude_none=True)


def _json(data: Any, status: int = 200) -> web.Response:
    return _raw_json(orjson.dumps(data), status)


def _raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _job_json(job: bytes) -> web.Response:
    """`{"job": Job}` from the job's API JSON (Topic.*_json)."""
    return _raw_json(b'{"job":%s}' % job)


def _new_job(item: Any) -> NewJob:
    if not isinstance(item, dict):
        raise InvalidRequest("each job must be a JSON object with a 'payload' field")
    if "payload" not in item:
        raise InvalidRequest("missing field 'payload': it is required (null is allowed)")
    return NewJob(item["payload"], b.text(item, "id"), b.seconds(item, "delay_seconds"))


@routes.post("/topics/{topic}/enqueue")
async def enqueue(request: web.Request) -> web.Response:
    topic = _topic(request)
    job = _new_job(await b.json_object(request))
    result = await topic.enqueue(job.payload, id=job.id, delay=job.delay)
    return _json({"id": result.id, "created": result.created}, 201 if result.created else 200)


@routes.post("/topics/{topic}/batch")
async def batch(request: web.Request) -> web.Response:
    topic = _topic(request)
    jobs = (await b.json_object(request)).get("jobs")
    if not isinstance(jobs, list) or not jobs or len(jobs) > MAX_BATCH:
        raise InvalidRequest(f"field 'jobs' must be a list of 1 to {MAX_BATCH} job objects")
    results = await topic.enqueue_many([_new_job(item) for item in jobs])
    return _json({"ids": [r.id for r in results], "created": [r.created for r in results]}, 201)


@routes.post("/topics/{topic}/claim")
async def claim(request: web.Request) -> web.Response:
    topic = _topic(request)
    data = await b.json_object(request)
    worker = b.required_text(data, "worker_id")
    count = b.integer(data, "count", 1, low=1, high=1000)
    wait = b.seconds(data, "wait_seconds", maximum=MAX_WAIT_SECONDS)
    jobs = await topic.claim_json(worker, count=count, wait=wait)
    if not jobs:
        return error_response("empty", f"no job available in topic {topic.name!r}: try later")
    return _raw_json(b'{"job":%s,"jobs":[%s]}' % (jobs[0], b",".join(jobs)))


async def _job_request(request: web.Request) -> tuple[Topic, dict[str, Any], str, str | None]:
    """Topic, body, job_id and worker_id of an ack/nack/heartbeat request."""
    topic = _topic(request)
    data = await b.json_object(request)
    return topic, data, b.required_text(data, "job_id"), b.text(data, "worker_id")


@routes.post("/topics/{topic}/ack")
async def ack(request: web.Request) -> web.Response:
    topic, _, job_id, worker = await _job_request(request)
    return _job_json(await topic.ack_json(job_id, worker=worker))


@routes.post("/topics/{topic}/nack")
async def nack(request: web.Request) -> web.Response:
    topic, data, job_id, worker = await _job_request(request)
    error = data.get("error")
    if error is not None and not isinstance(error, str):
        raise InvalidRequest("field 'error' must be a string")
    delay = b.seconds(data, "delay_seconds")
    return _job_json(await topic.nack_json(job_id, delay=delay, error=error, worker=worker))


@routes.post("/topics/{topic}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    topic, _, job_id, worker = await _job_request(request)
    return _job_json(await topic.heartbeat_json(job_id, worker=worker))


@routes.get("/topics/{topic}/status")
async def status(request: web.Request) -> web.Response:
    topic = _topic(request)
    await topic.load()
    return _json(topic.stats().model_dump(mode="json"))


@routes.get("/topics")
async def topics(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    stats = []
    for name in await engine.topic_names():
        topic = engine.topic(name)
        await topic.load()
        stats.append(topic.stats().model_dump(mode="json"))
    return _json({"topics": stats})


@routes.get("/topics/{topic}/jobs")
async def jobs(request: web.Request) -> web.Response:
    topic = _topic(request)
    query = dict(request.query)
    status = query.get("status") or None
    if status is not None and status not in JobStatus.__members__.values():
        raise InvalidRequest(f"status must be one of {', '.join(JobStatus)}")
    limit = b.integer(query, "limit", 100, low=1, high=1000)
    await topic.load()
    found = topic.list_jobs(
        status=JobStatus(status) if status else None, limit=limit, after=query.get("after") or None
    )
    after = found[-1].id if len(found) == limit else None
    return _json({"jobs": [_job(j) for j in found], "next": after})


async def _loaded_job(request: web.Request) -> tuple[Topic, str]:
    topic = _topic(request)
    await topic.load()
    return topic, request.match_info["job_id"]


@routes.get("/topics/{topic}/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    topic, job_id = await _loaded_job(request)
    job = topic.get_job(job_id)
    if job is None:
        raise JobNotFound(topic.name, job_id)
    return _json({"job": _job(job)})


@routes.delete("/topics/{topic}/jobs/{job_id}")
async def delete_job(request: web.Request) -> web.Response:
    topic, job_id = await _loaded_job(request)
    return _json({"job": _job(await topic.delete(job_id))})


@routes.post("/topics/{topic}/jobs/{job_id}/requeue")
async def requeue_job(request: web.Request) -> web.Response:
    topic, job_id = await _loaded_job(request)
    return _json({"job": _job(await topic.requeue(job_id))})


def _etag_value(header: str | None) -> str | None:
    if not header:
        return None
    return header.strip().removeprefix("W/").strip('"')


@routes.get("/topics/{topic}/document")
async def document(request: web.Request) -> web.StreamResponse:
    """The raw topic document; with If-None-Match and ?wait=, a long poll for a change."""
    topic = _topic(request)
    wait = b.query_seconds(request, "wait", MAX_WAIT_SECONDS)
    known = _etag_value(request.headers.get("If-None-Match"))
    await topic.load()
    current = topic.document()
    if wait > 0 and (current is None or current[1].strip('"') == known):
        await topic.wait_for_generation(topic.generation, wait)
        current = topic.document()
    if current is None:
        return error_response("not_found", f"topic {topic.name!r} has no document yet")
    data, etag = current
    headers = {"ETag": f'"{etag.strip(chr(34))}"', "X-Generation": str(topic.generation)}
    if etag.strip('"') == known:
        return web.Response(status=304, headers=headers)
    body = await topic.whole_document(data, etag)
    return web.Response(body=body, content_type="application/json", headers=headers)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    text = request.app[ENGINE].metrics.render()
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(__version__))
