"""The HTTP routes (team brief, "HTTP wire contract"): the seed's routes and bodies plus
the extensions. Handlers only translate JSON to engine calls and back."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from common.limits import PAGE_LIMIT, WAIT_SECONDS
from common.models import Job, JobStatus, TopicSettings, TopicStats

from .. import __version__
from ..engine import NewJob, Topic
from ..errors import BrokerError, InvalidRequest
from ..records import api_json
from ..workers import REMEMBER_SECONDS
from .appkeys import ENGINE
from .body import json_body, query_number
from .errors import error_response
from .openapi import openapi_document
from .requests import (
    BatchRequest,
    ClaimRequest,
    EnqueueRequest,
    JobRequest,
    NackRequest,
)

routes = web.RouteTableDef()


def _topic(request: web.Request) -> Topic:
    return request.app[ENGINE].topic(request.match_info["topic"])


def _job(job: Job) -> dict[str, Any]:
    return job.model_dump(mode="json", exclude_none=True)


def _json(data: Any, status: int = 200) -> web.Response:
    return _raw_json(orjson.dumps(data), status)


def _raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _job_json(stored: bytes) -> web.Response:
    """`{"job": Job}` from the job as stored (what Topic's operations answer)."""
    return _raw_json(b'{"job":%s}' % api_json(stored))


def _new_job(item: EnqueueRequest) -> NewJob:
    return NewJob(item.payload, item.id, item.delay_seconds or 0.0)


@routes.post("/topics/{topic}/enqueue")
async def enqueue(request: web.Request) -> web.Response:
    topic = _topic(request)
    job = _new_job(await json_body(request, EnqueueRequest))
    result = await topic.enqueue(job.payload, id=job.id, delay=job.delay)
    return _json({"id": result.id, "created": result.created}, 201 if result.created else 200)


@routes.post("/topics/{topic}/batch")
async def batch(request: web.Request) -> web.Response:
    topic = _topic(request)
    jobs = (await json_body(request, BatchRequest)).jobs
    results = await topic.enqueue_many([_new_job(item) for item in jobs])
    return _json({"ids": [r.id for r in results], "created": [r.created for r in results]}, 201)


@routes.post("/topics/{topic}/claim")
async def claim(request: web.Request) -> web.Response:
    topic = _topic(request)
    body = await json_body(request, ClaimRequest)
    jobs = await topic.claim(body.worker_id, count=body.count, wait=body.wait_seconds or 0.0)
    if not jobs:
        return error_response("empty", f"no job available in topic {topic.name!r}: try later")
    shown = [api_json(stored) for stored in jobs]
    return _raw_json(b'{"job":%s,"jobs":[%s]}' % (shown[0], b",".join(shown)))


@routes.post("/topics/{topic}/ack")
async def ack(request: web.Request) -> web.Response:
    topic = _topic(request)
    body = await json_body(request, JobRequest)
    return _job_json(await topic.ack(body.job_id, worker=body.worker_id))


@routes.post("/topics/{topic}/nack")
async def nack(request: web.Request) -> web.Response:
    topic = _topic(request)
    body = await json_body(request, NackRequest)
    nacked = await topic.nack(
        body.job_id, delay=body.delay_seconds, error=body.error, worker=body.worker_id
    )
    return _job_json(nacked)


@routes.post("/topics/{topic}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    topic = _topic(request)
    body = await json_body(request, JobRequest)
    return _job_json(await topic.heartbeat(body.job_id, worker=body.worker_id))


@routes.get("/topics/{topic}/status")
async def status(request: web.Request) -> web.Response:
    topic = _topic(request)
    await topic.load()
    return _json(_stats(topic.stats()))


def _stats(stats: TopicStats) -> dict[str, Any]:
    return stats.model_dump(mode="json", exclude=None if stats.error else {"error"})


@routes.get("/topics")
async def topics(request: web.Request) -> web.Response:
    """Every topic's stats; a topic that cannot be loaded is listed with its error, so
    one broken topic does not hide the others."""
    engine = request.app[ENGINE]
    stats = []
    for name in await engine.topic_names():
        topic = engine.topic(name)
        try:
            await topic.load()
        except BrokerError as exc:
            stats.append(_stats(TopicStats(topic=name, error=exc.message)))
            continue
        stats.append(_stats(topic.stats()))
    return _json({"topics": stats})


@routes.post("/topics/{topic}/reset-invalid")
async def reset_invalid(request: web.Request) -> web.Response:
    """Move the topic's invalid document aside (kept under topics/<topic>/) and start the
    topic empty; 409 wrong_state when the document is valid."""
    moved_to = await _topic(request).reset_invalid()
    return _json({"moved_to": moved_to})


def _status_query(request: web.Request) -> JobStatus | None:
    status = request.query.get("status") or None
    if status is not None and status not in JobStatus.__members__.values():
        raise InvalidRequest(f"status must be one of {', '.join(JobStatus)}")
    return JobStatus(status) if status else None


@routes.delete("/topics/{topic}")
async def purge(request: web.Request) -> web.Response:
    """Remove every job of the topic (?status=: of that status) in one commit."""
    topic = _topic(request)
    await topic.load()
    return _json({"removed": await topic.purge(_status_query(request))})


@routes.post("/topics/{topic}/requeue-dead")
async def requeue_dead(request: web.Request) -> web.Response:
    """Every dead job (?error=: whose last error contains the text) back to pending."""
    topic = _topic(request)
    await topic.load()
    error = request.query.get("error") or None
    return _json({"requeued": await topic.requeue_dead(error)})


@routes.get("/topics/{topic}/workers")
async def workers(request: web.Request) -> web.Response:
    """Each worker seen on the topic: claims in flight (from storage) and what it claimed,
    acked and nacked through this broker (broker/workers.py)."""
    topic = _topic(request)
    await topic.load()
    return _json({"workers": topic.worker_report(), "remembered_seconds": REMEMBER_SECONDS})


@routes.get("/topics/{topic}/settings")
async def get_settings(request: web.Request) -> web.Response:
    topic = _topic(request)
    await topic.load()
    return _json(topic.settings().model_dump(mode="json"))


@routes.patch("/topics/{topic}/settings")
async def patch_settings(request: web.Request) -> web.Response:
    """Set (null: clear) the settings given, in one commit; the settings in force after."""
    topic = _topic(request)
    changes = await json_body(request, TopicSettings)
    await topic.load()
    return _json((await topic.change_settings(changes)).model_dump(mode="json"))


@routes.get("/topics/{topic}/jobs")
async def jobs(request: web.Request) -> web.Response:
    topic = _topic(request)
    limit = query_number(request, "limit", PAGE_LIMIT, 100)
    await topic.load()
    found = topic.list_jobs(
        status=_status_query(request), limit=limit, after=request.query.get("after") or None
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
    return _json({"job": _job(await topic.find_job(job_id))})


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
    wait = query_number(request, "wait", WAIT_SECONDS, 0.0)
    known = _etag_value(request.headers.get("If-None-Match"))
    await topic.load()
    await topic.refresh()  # never older than storage: another broker may have written
    current = topic.document()
    if wait > 0 and (current is None or current[1].strip('"') == known):
        if not await topic.wait_for_generation(topic.generation, wait):
            await topic.refresh()  # a 304 is decided on what storage holds now
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
