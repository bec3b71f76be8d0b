"""The API's middleware: --api-log request lines and CORS (--cors-allow-origins[-regex]); authentication is
modules.api.auth's, for the whole server."""

import datetime
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

API_PATH_PREFIX = "/sdapi/"


def log_line(request: Request, status_code: int, duration: float) -> str:
    client = request.client.host if request.client else "-"
    timestamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    return (f"API {timestamp} {status_code} {request.url.scheme}/{request.scope.get('http_version', '?')} "
            f"{request.method} {request.url.path} {client} {duration:.4f}")


def add_request_log(app: FastAPI) -> None:
    @app.middleware("http")
    async def log_api_request(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        if request.url.path.startswith(API_PATH_PREFIX):
            print(log_line(request, response.status_code, time.perf_counter() - started), flush=True)
        return response


def add_cors(app: FastAPI, origins: str | None, origin_regex: str | None) -> None:
    app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in (origins or "").split(",") if o.strip()],
                       allow_origin_regex=origin_regex, allow_methods=["*"], allow_credentials=True,
                       allow_headers=["*"])


def setup_middleware(app: FastAPI, cmd_opts) -> None:
    if cmd_opts.api_log:
        add_request_log(app)
    if cmd_opts.cors_allow_origins or cmd_opts.cors_allow_origins_regex:
        add_cors(app, cmd_opts.cors_allow_origins, cmd_opts.cors_allow_origins_regex)
