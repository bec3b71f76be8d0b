"""Request and response bodies of /sdapi/v2 (jobs and the queue)."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from modules.api.models import RequestModel
from modules.jobs import queue as job_queue
from modules.jobs.store import STATES

MAX_KEY_LENGTH = 200


class JobSubmitRequest(RequestModel):
    type: Literal["txt2img", "img2img"]
    params: dict[str, Any] = Field(default={}, description="A1111's /sdapi/v1/txt2img or img2img request body.")
    priority: int = Field(default=job_queue.PRIORITY_DEFAULT, ge=job_queue.PRIORITY_MIN, le=job_queue.PRIORITY_MAX,
                          description=f"Higher runs first; the UI's and /sdapi/v1's jobs have "
                                      f"{job_queue.PRIORITY_INTERACTIVE}.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=MAX_KEY_LENGTH,
                                        description="The same key again returns the job it first made.")
    batch_id: str | None = Field(default=None, min_length=1, max_length=MAX_KEY_LENGTH,
                                 description="A label to list jobs by (GET /sdapi/v2/jobs?batch_id=).")


class JobPatchRequest(RequestModel):
    priority: int = Field(ge=job_queue.PRIORITY_MIN, le=job_queue.PRIORITY_MAX)


class JobSubmitResponse(BaseModel):
    id: str
    state: str
    position: int | None = Field(description="1 = next to run; null when not queued.")


class JobProgress(BaseModel):
    step: int
    steps: int
    fraction: float
    eta_s: float | None


class JobInfo(BaseModel):
    id: str
    type: str
    state: Literal[STATES]
    priority: int
    position: int | None
    progress: JobProgress | None
    attempts: int
    max_attempts: int
    error: dict | None = Field(description="Why it failed: {status, field, message, type}.")
    saved_files: list[str] | None = Field(description="The files it saved, once finished.")
    batch_id: str | None
    submitted_at: float
    started_at: float | None
    finished_at: float | None


class JobList(BaseModel):
    jobs: list[JobInfo]
    next_cursor: str | None = Field(description="Pass as cursor for the next (older) page; null on the last.")


class JobResult(BaseModel):
    images: list[str] = Field(description="Base64 images (empty unless the request's send_images was true).")
    parameters: dict
    info: str


class WorkerInfo(BaseModel):
    name: str
    kind: str = Field(description="local (in the server's process) or ray (an actor on a Ray cluster).")
    alive: bool
    state: str = Field(description="idle, busy, starting, restarting or dead.")
    job: str | None = Field(description="The job it runs now.")
    node: str | None = Field(description="The machine (a Ray node id for ray workers).")
    pid: int | None
    device: str | None
    checkpoints: list[str] = Field(description="The checkpoints it holds loaded, by file name, the current one first.")


class QueueInfo(BaseModel):
    paused: bool
    running: list[str]
    queued: int
    workers: list[WorkerInfo]
