"""/sdapi/v2: jobs (submit, look up, list, result, preview, cancel, reprioritise, retry), the queue (state, pause,
resume) and its events (Server-Sent Events). One id from submit to result."""

import asyncio
import contextlib
import json
import re
import time

from fastapi import FastAPI, Header, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from modules.api import errors, generation, models
from modules.api.errors import api_error
from modules.api.infotext_request import apply_infotext
from modules.api.jobs_models import (
    JobInfo,
    JobList,
    JobPatchRequest,
    JobResult,
    JobSubmitRequest,
    JobSubmitResponse,
    QueueInfo,
)
from modules.jobs import live
from modules.jobs.events import TERMINAL
from modules.jobs.queue import QueueError
from modules.jobs.service import JobService
from modules.jobs.spec import GenerationSpec, SpecError
from modules.jobs.store import QUEUED, RUNNING, STATES, JobRecord

PAGE_DEFAULT, PAGE_MAX = 50, 500
KEEPALIVE_S = 15.0
STREAM_POLL_S = 0.05
SEQUENCE_NUMBER = re.compile(r"[0-9]{1,18}")
"""a cursor or Last-Event-ID: ASCII digits that fit SQLite's integers"""
REQUEST_MODELS = {"txt2img": models.StableDiffusionTxt2ImgProcessingAPI,
                  "img2img": models.StableDiffusionImg2ImgProcessingAPI}
CHECKS = {"txt2img": generation.check_txt2img, "img2img": generation.check_img2img}


@contextlib.contextmanager
def refused_as_api_errors():
    """The queue's refusals (unknown job, wrong state, bad field) as the API's errors."""
    try:
        yield
    except QueueError as e:
        raise api_error(e.status_code, e.field, e.message) from e


def check_params(submit: JobSubmitRequest) -> GenerationSpec:
    """The params as A1111's request of that type, checked as /sdapi/v1 checks it (errors under body.params)."""
    try:
        request = REQUEST_MODELS[submit.type].model_validate(submit.params)
    except ValidationError as e:
        raise RequestValidationError([{**error, "loc": ("body", "params", *error["loc"])}
                                      for error in e.errors()]) from e
    return CHECKS[submit.type](apply_infotext(request))


def add_routes(app: FastAPI, service: JobService) -> None:
    jobs = service.queue

    def info(job: JobRecord, queued_positions: dict[str, int] | None = None) -> JobInfo:
        if job.state != QUEUED:
            position = None
        elif queued_positions is not None:
            position = queued_positions.get(job.id)
        else:
            position = jobs.position(job)
        return JobInfo(id=job.id, type=job.type, state=job.state, priority=job.priority, position=position,
                       progress=live.progress(job.id) if job.state == RUNNING else None, attempts=job.attempts,
                       max_attempts=job.max_attempts, error=job.error, saved_files=job.saved_files,
                       batch_id=job.batch_id,
                       submitted_at=job.submitted_at, started_at=job.started_at, finished_at=job.finished_at)

    def get_job(job_id: str) -> JobRecord:
        with refused_as_api_errors():
            return jobs.get(job_id)

    def submit(req: JobSubmitRequest, response: Response) -> JobSubmitResponse:
        spec = check_params(req)
        with refused_as_api_errors():
            job, created = jobs.submit(spec, req.priority, idempotency_key=req.idempotency_key, batch_id=req.batch_id)
        response.status_code = 202 if created else 200
        return JobSubmitResponse(id=job.id, state=job.state, position=jobs.position(job))

    def list_jobs(state: str | None = Query(default=None, description=f"One of {', '.join(STATES)}."),
                  limit: int = Query(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX),
                  cursor: str | None = Query(default=None, description="next_cursor of the previous page."),
                  batch_id: str | None = None) -> JobList:
        if state is not None and state not in STATES:
            raise api_error(422, "state", f"unknown state {state!r}; states: {', '.join(STATES)}")
        before = None
        if cursor is not None:
            if not SEQUENCE_NUMBER.fullmatch(cursor):
                raise api_error(422, "cursor", f"not a cursor this server gave out: {cursor!r}")
            before = int(cursor)
        page = jobs.store.page(state=state, batch_id=batch_id, limit=limit, before_seq=before)
        positions = None
        if any(job.state == QUEUED for job in page):
            positions = jobs.store.queued_positions()
        next_cursor = str(page[-1].seq) if len(page) == limit else None
        return JobList(jobs=[info(job, positions) for job in page], next_cursor=next_cursor)

    def job_info(job_id: str) -> JobInfo:
        return info(get_job(job_id))

    def result(job_id: str) -> JobResult:
        job = get_job(job_id)
        stored, spec_json = jobs.store.result(job_id), jobs.store.spec(job_id)
        if spec_json is None:
            raise api_error(404, "id", f"no job {job_id!r}")
        if stored is None:
            reason = f"job {job_id} is {job.state}"
            if job.state not in (QUEUED, RUNNING):
                reason += f" and has no result ({(job.error or {}).get('message', 'it did not run')})"
            raise api_error(409, "state", reason)
        try:
            parameters = GenerationSpec.from_json(spec_json).params
        except SpecError as e:
            raise api_error(409, "state", f"job {job_id} was stored by another version: {e}") from e
        return JobResult(images=stored["images"], parameters=parameters, info=stored["info"])

    def preview(job_id: str) -> Response:
        get_job(job_id)
        image = live.preview_png(job_id)
        if image is None:
            return Response(status_code=204)
        return Response(content=image, media_type="image/png")

    def cancel(job_id: str) -> JobInfo:
        with refused_as_api_errors():
            return info(jobs.cancel(job_id))

    def patch(job_id: str, req: JobPatchRequest) -> JobInfo:
        with refused_as_api_errors():
            return info(jobs.set_priority(job_id, req.priority))

    def retry(job_id: str) -> JobInfo:
        with refused_as_api_errors():
            return info(jobs.retry(job_id))

    def queue_info() -> QueueInfo:
        return QueueInfo(paused=jobs.paused, running=jobs.store.ids(RUNNING), queued=jobs.store.count(QUEUED),
                         workers=[worker.describe() for worker in service.workers])

    def pause() -> QueueInfo:
        jobs.pause()
        return queue_info()

    def resume() -> QueueInfo:
        jobs.resume()
        return queue_info()

    def events(job: str | None = Query(default=None, description="Only this job's events; the stream ends after "
                                                                   "its last."),
               last_event_id: str | None = Header(default=None)) -> StreamingResponse:
        finished_job = None
        if job is not None:
            record = get_job(job)
            finished_job = record if record.finished else None
        after = int(last_event_id) if last_event_id and SEQUENCE_NUMBER.fullmatch(last_event_id) else None
        listener = jobs.events.subscribe(job=job, after_seq=after)
        return StreamingResponse(stream(listener, job, finished_job), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def stream(listener, job: str | None, finished_job: JobRecord | None):
        """Polls the listener without holding a thread (many clients may listen); a listener that fell behind
        gets a reset event and the stream ends (the client reconnects with Last-Event-ID)."""
        try:
            if finished_job is not None and listener.events.empty():
                # finished before the events kept in memory: its last event, from the store
                yield sse(0, f"job.{finished_job.state}", {"job": finished_job.id, "error": finished_job.error})
                return
            quiet_since = time.monotonic()
            while True:
                if listener.overflowed:
                    yield "event: reset\ndata: {}\n\n"
                    return
                event = listener.next(timeout=0)
                if event is None:
                    if time.monotonic() - quiet_since >= KEEPALIVE_S:
                        yield ": keepalive\n\n"
                        quiet_since = time.monotonic()
                    await asyncio.sleep(STREAM_POLL_S)
                    continue
                quiet_since = time.monotonic()
                yield sse(event.seq, event.type, event.as_dict())
                if job is not None and event.type in TERMINAL:
                    return
        finally:
            listener.close()

    routes = [
        ("/sdapi/v2/jobs", submit, ["POST"], JobSubmitResponse, {"status_code": 202}),
        ("/sdapi/v2/jobs", list_jobs, ["GET"], JobList, {}),
        ("/sdapi/v2/jobs/{job_id}", job_info, ["GET"], JobInfo, {}),
        ("/sdapi/v2/jobs/{job_id}", patch, ["PATCH"], JobInfo, {}),
        ("/sdapi/v2/jobs/{job_id}/result", result, ["GET"], JobResult, {}),
        ("/sdapi/v2/jobs/{job_id}/preview", preview, ["GET"], None,
         {"responses": {200: {"content": {"image/png": {}}, "description": "The live preview (PNG)"},
                        204: {"description": "No preview yet"}}}),
        ("/sdapi/v2/jobs/{job_id}/cancel", cancel, ["POST"], JobInfo, {}),
        ("/sdapi/v2/jobs/{job_id}/retry", retry, ["POST"], JobInfo, {}),
        ("/sdapi/v2/queue", queue_info, ["GET"], QueueInfo, {}),
        ("/sdapi/v2/queue/pause", pause, ["POST"], QueueInfo, {}),
        ("/sdapi/v2/queue/resume", resume, ["POST"], QueueInfo, {}),
        ("/sdapi/v2/events", events, ["GET"], None,
         {"responses": {200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}}}),
    ]
    for path, endpoint, methods, response_model, extra in routes:
        extra = dict(extra)
        extra["responses"] = errors.with_error_responses(extra.get("responses"))
        app.router.add_api_route(path, endpoint, methods=methods, response_model=response_model,
                                 route_class_override=errors.ApiRoute, tags=["jobs"], **extra)


def sse(seq: int, event_type: str, data: dict) -> str:
    return f"id: {seq}\nevent: {event_type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


