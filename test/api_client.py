"""The real API routes in this process, behind a FastAPI TestClient."""

import os
import tempfile
import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules import call_queue
from modules.api import jobs_api
from modules.api.api import Api


def job_service():
    """This process's job service (its worker generates under the server's generation lock)."""
    import webui

    return webui.start_jobs(call_queue.queue_lock)


def api_app(service) -> FastAPI:
    """/sdapi/v1 and /sdapi/v2 on a fresh app, generating through the job service `service`."""
    app = FastAPI()
    Api(app, threading.Lock(), service.queue)
    jobs_api.add_routes(app, service)
    return app


def in_process_api() -> TestClient:
    return TestClient(api_app(job_service()))


def service_with_workers(workers: int, generation_lock):
    """A job service of its own (a database in a new temporary folder) with `workers` local workers generating under
    generation_lock: a nullcontext() lets them generate at the same time."""
    from modules import initialize
    from modules.jobs import service

    database = os.path.join(tempfile.mkdtemp(prefix="serena-test-jobs-"), service.DATABASE_NAME)
    return service.create(database, initialize.job_environment(generation_lock), workers=workers)
