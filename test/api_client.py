"""The real API routes in this process, behind a FastAPI TestClient."""

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


def in_process_api() -> TestClient:
    """/sdapi/v1 and /sdapi/v2 on a fresh app, generating through this process's job service (its worker holds the
    generation lock, as the server's does)."""
    service = job_service()
    app = FastAPI()
    Api(app, threading.Lock(), service.queue)
    jobs_api.add_routes(app, service)
    return TestClient(app)
