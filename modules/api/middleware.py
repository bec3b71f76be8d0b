"""The API's middleware: --api-log request lines and CORS (--cors-allow-origins[-regex]); authentication is
modules.api.auth's, for the whole server."""

import datetime
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware import Middleware

from modules.api.errors import error_response

API_PATH_PREFIX = "/sdapi/"
LIMITED_PREFIXES = (API_PATH_PREFIX, "/internal/")
MAX_BODY_BYTES = 64 * 1024 * 1024
"""the largest request body the API reads: room for several large base64 images, not for exhausting memory"""


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


class BodyLimitMiddleware:
    """Answers 413 to an API request whose body is over max_bytes: at once when its Content-Length says so, else as
    soon as what it sent passes the limit (nothing of it reaches the route)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        if declared is not None:
            return await self.app(scope, receive, send)
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        megabytes = self.max_bytes // (1024 * 1024)
        response = error_response(413, "PayloadTooLarge", f"body: the request is larger than {megabytes} MiB")
        await response(scope, receive, send)


def setup_middleware(app: FastAPI, cmd_opts) -> None:
    app.user_middleware.append(Middleware(BodyLimitMiddleware))
    if cmd_opts.api_log:
        add_request_log(app)
    if cmd_opts.cors_allow_origins or cmd_opts.cors_allow_origins_regex:
        add_cors(app, cmd_opts.cors_allow_origins, cmd_opts.cors_allow_origins_regex)
