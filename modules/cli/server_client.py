"""A running server's job queue (/sdapi/v2) over HTTP: submit, follow, fetch, list, cancel."""

import time

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
        if response.status_code in (401, 403):
            raise InputError(f"--api-auth: the server refused the credentials ({response.status_code})")
        if 400 <= response.status_code < 500:
            raise InputError(detail_of(response))
        if response.status_code >= 500:
            raise ServerError(f"the server answered {response.status_code}: {detail_of(response)}")
        return response

    def submit(self, body: Body, priority: int | None) -> str:
        payload = {"type": body.mode, "params": body.fields}
        if priority is not None:
            payload["priority"] = priority
        try:
            return self.call("POST", "/sdapi/v2/jobs", json=payload).json()["id"]
        except InputError as e:
            field, separator, message = str(e).partition(": ")
            if separator and field.startswith("params."):
                raise body.refuse(field.removeprefix("params."), message) from e
            raise

    def job(self, job_id: str) -> dict:
        return self.call("GET", f"/sdapi/v2/jobs/{job_id}").json()

    def result(self, job_id: str) -> dict:
        return self.call("GET", f"/sdapi/v2/jobs/{job_id}/result").json()

    def cancel(self, job_id: str) -> dict:
        return self.call("POST", f"/sdapi/v2/jobs/{job_id}/cancel").json()

    def jobs(self, state: str | None, limit: int) -> list[dict]:
        params = {"limit": limit, **({"state": state} if state else {})}
        return self.call("GET", "/sdapi/v2/jobs", params=params).json()["jobs"]

    def wait(self, job_id: str, on_progress=lambda numbers: None) -> dict:
        """The job once it has ended, calling on_progress with its progress while it runs."""
        while True:
            job = self.job(job_id)
            if job["state"] in FINISHED:
                return job
            if job.get("progress"):
                on_progress(job["progress"])
            time.sleep(POLL_S)
