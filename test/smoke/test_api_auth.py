"""--api-auth: HTTP Basic on every API route and on the API docs; also --api-log and --cors-allow-origins."""

import base64

import pytest
import requests

from test.smoke.api_helpers import TINY, ApiClient, gradient_image, to_base64

USERS = {"alice": "wonder land", "bob": "pa:ss"}
ALLOWED_ORIGIN = "http://allowed.test"
IMAGE = to_base64(gradient_image())

# every route, with a body that succeeds; unload comes before reload
ROUTES = [
    ("GET", "/sdapi/v1/progress", None),
    ("GET", "/sdapi/v1/options", None),
    ("GET", "/sdapi/v1/cmd-flags", None),
    ("GET", "/sdapi/v1/samplers", None),
    ("GET", "/sdapi/v1/schedulers", None),
    ("GET", "/sdapi/v1/upscalers", None),
    ("GET", "/sdapi/v1/latent-upscale-modes", None),
    ("GET", "/sdapi/v1/sd-models", None),
    ("GET", "/sdapi/v1/sd-vae", None),
    ("GET", "/sdapi/v1/face-restorers", None),
    ("GET", "/sdapi/v1/prompt-styles", None),
    ("GET", "/sdapi/v1/embeddings", None),
    ("GET", "/sdapi/v1/memory", None),
    ("GET", "/sdapi/v1/scripts", None),
    ("GET", "/sdapi/v1/script-info", None),
    ("GET", "/sdapi/v1/extensions", None),
    ("GET", "/sdapi/v1/loras", None),
    ("GET", "/sdapi/v1/hypernetworks", None),
    ("GET", "/sdapi/v1/realesrgan-models", None),
    ("POST", "/sdapi/v1/interrogate", {"image": IMAGE}),
    ("POST", "/sdapi/v1/txt2img", {**TINY, "steps": 1}),
    ("POST", "/sdapi/v1/img2img", {**TINY, "steps": 1, "init_images": [IMAGE]}),
    ("POST", "/sdapi/v1/extra-single-image", {"image": IMAGE, "upscaler_1": "Lanczos"}),
    ("POST", "/sdapi/v1/extra-batch-images", {"imageList": [{"data": IMAGE, "name": "a"}]}),
    ("POST", "/sdapi/v1/png-info", {"image": IMAGE}),
    ("POST", "/sdapi/v1/interrupt", None),
    ("POST", "/sdapi/v1/skip", None),
    ("POST", "/sdapi/v1/options", {"jpeg_quality": 80}),
    ("POST", "/sdapi/v1/refresh-checkpoints", None),
    ("POST", "/sdapi/v1/refresh-vae", None),
    ("POST", "/sdapi/v1/refresh-embeddings", None),
    ("POST", "/sdapi/v1/refresh-loras", None),
    ("POST", "/sdapi/v1/unload-checkpoint", None),
    ("POST", "/sdapi/v1/reload-checkpoint", None),
    ("POST", "/internal/progress", {"id_task": "task(x)"}),
    ("POST", "/sdapi/v2/jobs", {"type": "txt2img", "params": {**TINY, "steps": 1}}),
    ("GET", "/sdapi/v2/jobs", None),
    ("GET", "/sdapi/v2/jobs/{job_id}", None),
    ("PATCH", "/sdapi/v2/jobs/{job_id}", {"priority": 1}),
    ("GET", "/sdapi/v2/jobs/{job_id}/result", None),
    ("GET", "/sdapi/v2/jobs/{job_id}/preview", None),
    ("POST", "/sdapi/v2/jobs/{job_id}/cancel", None),
    ("POST", "/sdapi/v2/jobs/{job_id}/retry", None),
    ("GET", "/sdapi/v2/queue", None),
    ("POST", "/sdapi/v2/queue/pause", None),
    ("POST", "/sdapi/v2/queue/resume", None),
    ("GET", "/sdapi/v2/events?job={job_id}", None),
    ("GET", "/docs", None),
    ("GET", "/redoc", None),
    ("GET", "/openapi.json", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]


@pytest.fixture(scope="module")
def auth_server(server_factory):
    users = ",".join(f"{user}:{password}" for user, password in USERS.items())
    server = server_factory(["--api-auth", users, "--api-log", "--cors-allow-origins", ALLOWED_ORIGIN])
    yield server
    server.stop()


UNKNOWN_JOB = "task(nobody-submitted-this)"
"""what {job_id} stands for: with credentials, a job route answers 404 for it (not 401)"""


def call(client: ApiClient, method: str, path: str, payload, **kwargs) -> requests.Response:
    path = path.replace("{job_id}", UNKNOWN_JOB)
    if method == "GET":
        return client.get(path, **kwargs)
    if method == "PATCH":
        return client.session.patch(client.url(path), json=payload, timeout=60, **kwargs)
    return client.post(path, payload, **kwargs)


def assert_refused(response: requests.Response) -> None:
    assert response.status_code == 401, response.text[:500]
    assert response.headers["WWW-Authenticate"] == "Basic"
    assert response.json()["detail"] == "Incorrect username or password"


@pytest.mark.parametrize(("method", "path", "payload"), ROUTES, ids=ROUTE_IDS)
def test_without_credentials_refused(auth_server, method, path, payload):
    assert_refused(call(ApiClient(auth_server.url), method, path, payload))


@pytest.mark.parametrize(("method", "path", "payload"), ROUTES, ids=ROUTE_IDS)
def test_wrong_password_refused(auth_server, method, path, payload):
    assert_refused(call(ApiClient(auth_server.url, auth=("alice", "wonderland")), method, path, payload))


@pytest.mark.parametrize(("method", "path", "payload"), ROUTES, ids=ROUTE_IDS)
def test_with_credentials_answered(auth_server, method, path, payload):
    client = ApiClient(auth_server.url, auth=("alice", USERS["alice"]))
    response = call(client, method, path, payload)
    if path.endswith("/pause"):
        client.post("/sdapi/v2/queue/resume")
    expected = 404 if "{job_id}" in path else {("POST", "/sdapi/v2/jobs"): 202,
                                               ("POST", "/sdapi/v1/interrogate"): 501}.get((method, path), 200)
    assert response.status_code == expected, response.text[:1000]


def test_every_route_is_in_the_list(auth_server):
    schema = ApiClient(auth_server.url, auth=("alice", USERS["alice"])).ok("GET", "/openapi.json")
    documented = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert documented <= {(method, path.split("?")[0]) for method, path, _ in ROUTES}


@pytest.mark.parametrize("header", ["Basic " + base64.b64encode(b"mallory:wonder land").decode(),
                                    "Basic " + base64.b64encode(b"alice").decode(),
                                    "Basic !!!not-base64!!!", "Bearer alice:wonder land", ""])
def test_unknown_user_and_malformed_headers_refused(auth_server, header):
    assert_refused(ApiClient(auth_server.url).get("sd-models", headers={"Authorization": header}))


def test_password_with_a_colon(auth_server):
    ApiClient(auth_server.url, auth=("bob", "pa:ss")).ok("GET", "sd-models")
    assert_refused(ApiClient(auth_server.url, auth=("bob", "pa")).get("sd-models"))


def test_api_log_lines(auth_server):
    ApiClient(auth_server.url, auth=("alice", USERS["alice"])).ok("GET", "samplers")
    ApiClient(auth_server.url).get("samplers")
    lines = [line for line in auth_server.log().splitlines() if line.startswith("API ")]
    assert any(" 200 " in line and "GET /sdapi/v1/samplers 127.0.0.1" in line for line in lines)
    assert any(" 401 " in line and "GET /sdapi/v1/samplers" in line for line in lines)


def test_cors_allows_the_configured_origin(auth_server):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = requests.options(f"{auth_server.url}/sdapi/v1/txt2img", timeout=60,
                               headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = requests.options(f"{auth_server.url}/sdapi/v1/txt2img", timeout=60,
                             headers={"Origin": "http://other.test", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    answer = ApiClient(auth_server.url, auth=("alice", USERS["alice"])).get("samplers",
                                                                           headers={"Origin": ALLOWED_ORIGIN})
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
