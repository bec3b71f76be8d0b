"""A running server's job queue (/sdapi/v2) over HTTP: submit, follow, fetch, list, cancel."""

import re
import time
from urllib.parse import quote

import requests

from modules.cli.arguments import InputError
from modules.cli.request_bodies import Body

POLL_S = 0.25
TIMEOUT_S = 30
FINISHED = ("succeeded", "failed", "cancelled")


class ServerError(Exception):
    """The server could not be reached or did not answer as a server of this kind does (exit 1)."""


def detail_of(response: requests.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:500] or response.reason
    if isinstance(detail, list):  # a validation error: [{loc, msg}, ...]
        first = detail[0] if detail else {}
        return f"{'.'.join(str(part) for part in first.get('loc', [])[1:])}: {first.get('msg', '')}"
    return str(detail)


FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def split_field(detail: str) -> tuple[str | None, str]:
    """("steps", "message") from "steps: message"; (None, detail) when it names no field."""
    match = FIELD_PREFIX.match(detail)
    return (match[1], match[2]) if match else (None, detail)


class ServerClient:
    def __init__(self, url: str, api_auth: str | None = None):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if api_auth:
            user, separator, password = api_auth.partition(":")
            if not separator:
                raise InputError("--api-auth: expected USER:PASSWORD")
            self.session.auth = (user, password)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """The answer to a request; a 4xx is the input's fault (InputError), anything else unexpected a ServerError."""
        try:
            response = self.session.request(method, self.url + path, timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException as e:
            raise ServerError(f"--server: cannot reach {self.url}: {e}") from e
        if response.status_code == 401:
            raise InputError("--api-auth: the server asks for credentials (USER:PASSWORD of its --api-auth)")
        if 400 <= response.status_code < 500:
            raise InputError(detail_of(response))
        if response.status_code >= 500:
            raise ServerError(f"the server answered {response.status_code}: {detail_of(response)}")
        return response

    def json(self, method: str, path: str, **kwargs):
        response = self.call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as e:
            raise ServerError(f"--server: {self.url} did not answer as Serena's /sdapi/v2 does") from e

    def submit(self, body: Body, priority: int | None) -> str:
        payload = {"type": body.mode, "params": body.fields}
        if priority is not None:
            payload["priority"] = priority
        try:
            return self.json("POST", "/sdapi/v2/jobs", json=payload)["id"]
        except InputError as e:
            field, message = split_field(str(e))
            if field == "priority":
                raise InputError(f"--priority: {message}") from e
            if field:
                raise body.refuse(field.removeprefix("params."), message) from e
            raise
        except KeyError as e:
            raise ServerError(f"--server: {self.url} did not answer as Serena's /sdapi/v2 does") from e

    def job(self, job_id: str) -> dict:
        return self.json("GET", f"/sdapi/v2/jobs/{quote(job_id, safe='')}")

    def result(self, job_id: str) -> dict:
        return self.json("GET", f"/sdapi/v2/jobs/{quote(job_id, safe='')}/result")

    def cancel(self, job_id: str) -> dict:
        return self.json("POST", f"/sdapi/v2/jobs/{quote(job_id, safe='')}/cancel")

    def jobs(self, state: str | None, limit: int) -> list[dict]:
        params = {"limit": limit, **({"state": state} if state else {})}
        try:
            return self.json("GET", "/sdapi/v2/jobs", params=params)["jobs"]
        except InputError as e:
            field, message = split_field(str(e))
            raise InputError(f"--{field}: {message}" if field in ("limit", "state") else str(e)) from e

    def wait(self, job_id: str, on_progress=lambda numbers: None, timeout: float | None = None) -> dict:
        """The job once it has ended (or as it is when timeout seconds have passed), calling on_progress with its
        progress while it runs."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in FINISHED or (deadline is not None and time.monotonic() >= deadline):
                return job
            if job.get("progress"):
                on_progress(job["progress"])
            time.sleep(POLL_S)
