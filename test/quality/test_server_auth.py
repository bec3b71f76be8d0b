"""The server's auth middleware on the real API routes, in this process: which credentials it takes, what it does
with headers it cannot read, and that it answers a stranger before the body limit reads the body."""

import argparse
import base64

import pytest
from fastapi.testclient import TestClient

from modules.api import auth
from modules.api.middleware import MAX_BODY_BYTES
from test.api_client import api_app, job_service


def protected_api(api_auth: str | None, gradio_auth: str | None) -> TestClient:
    app = api_app(job_service())
    flags = argparse.Namespace(api_auth=api_auth, gradio_auth=gradio_auth, gradio_auth_path=None)
    auth.protect_server(app, flags, ui_mount_path=None)
    return TestClient(app)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_user_in_both_lists_signs_in_with_either_password():
    client = protected_api("alice:api-pw", "alice:ui-pw")
    assert client.get("/sdapi/v1/samplers", headers=basic("alice", "api-pw")).status_code == 200
    assert client.get("/sdapi/v1/samplers", headers=basic("alice", "ui-pw")).status_code == 200
    assert client.get("/sdapi/v1/samplers", headers=basic("alice", "other")).status_code == 401


@pytest.mark.parametrize("header", [b"Basic \xe9t\xe9", "Basic " + base64.b64encode(b"al\xffce:pw").decode(),
                                    b"Basic YWxpY2U6YXBpLXB3\xe9"])
def test_a_header_that_is_not_ascii_or_not_utf8_is_a_401(header):
    response = protected_api("alice:api-pw", None).get("/sdapi/v1/samplers", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["detail"] == "Incorrect username or password"


def test_a_stranger_is_refused_before_any_of_a_large_body_is_read():
    def chunks():
        for _ in range(MAX_BODY_BYTES // (1024 * 1024) + 2):
            yield b"x" * (1024 * 1024)

    client = protected_api("alice:api-pw", None)
    refused = client.post("/sdapi/v1/txt2img", content=chunks())
    assert refused.status_code == 401
    too_large = client.post("/sdapi/v1/txt2img", content=chunks(), headers=basic("alice", "api-pw"))
    assert too_large.status_code == 413


def test_protecting_a_server_that_already_serves_is_refused():
    client = protected_api(None, None)
    assert client.get("/sdapi/v1/samplers").status_code == 200
    with pytest.raises(RuntimeError, match="already serves"):
        auth.protect_server(client.app, argparse.Namespace(api_auth="a:b", gradio_auth=None, gradio_auth_path=None),
                            ui_mount_path=None)

