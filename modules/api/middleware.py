"""The API's middleware: --api-log request lines, --api-auth and CORS (--cors-allow-origins[-regex])."""

import datetime
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware import Middleware

from modules.api.auth import BasicAuthMiddleware, parse_credentials

API_PATH_PREFIX = "/sdapi/"
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")


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


def add_basic_auth(app: FastAPI, api_auth: str, protect_internal: bool) -> None:
    """Innermost, so that the 401 answer still passes through the app's other middleware (X-Process-Time)."""
    prefixes = (API_PATH_PREFIX, *DOCS_PATHS, *(("/internal/",) if protect_internal else ()))
    app.user_middleware.append(Middleware(BasicAuthMiddleware, credentials=parse_credentials(api_auth),
                                          protected_prefixes=prefixes))


def add_cors(app: FastAPI, origins: str | None, origin_regex: str | None) -> None:
    app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in (origins or "").split(",") if o.strip()],
                       allow_origin_regex=origin_regex, allow_methods=["*"], allow_credentials=True,
                       allow_headers=["*"])


def setup_middleware(app: FastAPI, cmd_opts) -> None:
    if cmd_opts.api_auth:
        add_basic_auth(app, cmd_opts.api_auth, protect_internal=bool(cmd_opts.nowebui))
    if cmd_opts.api_log:
        add_request_log(app)
    if cmd_opts.cors_allow_origins or cmd_opts.cors_allow_origins_regex:
        add_cors(app, cmd_opts.cors_allow_origins, cmd_opts.cors_allow_origins_regex)
