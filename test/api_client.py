"""The real API routes in this process, behind a FastAPI TestClient."""

import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules.api.api import Api


def in_process_api() -> TestClient:
    app = FastAPI()
    Api(app, threading.Lock())
    return TestClient(app)
