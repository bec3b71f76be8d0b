"""The API's error answers: always JSON {error, detail, body, errors}; an unexpected error never stops the server."""

import json
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from modules.jobs import failures

log = logging.getLogger(__name__)


class ErrorResponse(BaseModel):
    """Every error answer of the API: what went wrong (detail starts with the request field it is about)."""

    error: str
    detail: Any
    body: Any = None
    errors: Any = None


ERROR_RESPONSES = {"4XX": {"model": ErrorResponse, "description": "The request was refused (the field is named)"},
                   "5XX": {"model": ErrorResponse, "description": "The server could not answer"}}


def with_error_responses(responses: dict | None) -> dict:
    """A route's documented answers with the error shape added for every 4xx and 5xx status."""
    return {**ERROR_RESPONSES, **(responses or {})}


def api_error(status_code: int, field: str | None, message: str) -> HTTPException:
    """An HTTPException whose detail starts with the request field it is about (also kept as .field, .message)."""
    error = HTTPException(status_code=status_code, detail=f"{field}: {message}" if field else message)
    error.field, error.message = field, message
    return error


def error_response(status_code: int, error: str, detail, body="", errors="", headers=None) -> JSONResponse:
    content = {"error": error, "detail": detail, "body": _printable(body), "errors": errors}
    return JSONResponse(status_code=status_code, content=content, headers=headers)


def _printable(body):
    """The request body as the error answer can carry it: bytes as text, and a parsed body holding what JSON in
    UTF-8 cannot carry (NaN, Infinity, a lone surrogate) as its escaped text."""
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf8", errors="replace")
    try:
        json.dumps(body, allow_nan=False, ensure_ascii=False).encode("utf8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return json.dumps(body, default=str)
    return body


def field_name(loc) -> str:
    """('body', 'init_images', 0) -> 'init_images[0]'; ('query', 'x') -> 'x'; the body itself is 'body'."""
    parts = list(loc[1:]) if len(loc) > 1 and loc[0] in ("body", "query", "path") else list(loc)
    name = str(parts[0]) if parts else "body"
    for part in parts[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def describe_validation_error(error: dict) -> str:
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"body: invalid JSON ({reason} at character {error['loc'][-1]})"
    return f"{field_name(error['loc'])}: {error['msg']}"


async def http_exception_handler(request: Request, e: StarletteHTTPException) -> JSONResponse:
    return error_response(e.status_code, type(e).__name__, e.detail, errors=str(e), headers=e.headers)


async def validation_exception_handler(request: Request, e: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in e.errors()]
    detail = "; ".join(describe_validation_error(err) for err in e.errors())
    return error_response(422, type(e).__name__, detail, body=e.body, errors=errors)


def unexpected_error_response(request: Request, e: Exception) -> JSONResponse:
    log.error("API error: %s %s: %s", request.method, request.url.path, e, exc_info=e)
    name = failures.error_name(e)
    return error_response(500, name, str(e) or name, errors=str(e))


async def unexpected_exception_handler(request: Request, e: Exception) -> JSONResponse:
    return unexpected_error_response(request, e)


class ApiRoute(APIRoute):
    """Turns an unexpected exception into the 500 answer inside the route, so the app's middleware
    (X-Process-Time, logging) still sees a normal response."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded_handler(request: Request):
            try:
                return await handler(request)
            except (StarletteHTTPException, RequestValidationError):
                raise
            except Exception as e:
                return unexpected_error_response(request, e)

        return guarded_handler


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(Exception, unexpected_exception_handler)
