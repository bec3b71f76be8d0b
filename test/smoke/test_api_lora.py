"""The built-in Lora extension through a real server: /sdapi/v1/loras, refresh-loras, <lora:...> in txt2img, and
--api-auth over its routes; the routes also answer beside the browser UI (mounted at "/")."""

import hashlib
import json

import pytest
import requests

from test.smoke.api_helpers import TINY, ApiClient, from_base64
from tools.make_tiny_lora import make_tiny_lora

USER, PASSWORD = "lora-user", "lora-pass"
LORA_ROUTES = [("GET", "/sdapi/v1/loras"), ("POST", "/sdapi/v1/refresh-loras")]


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("lora-dir")
    make_tiny_lora("sd15", str(folder / "tiny.safetensors"), seed=0)
    return str(folder)


@pytest.fixture(scope="module")
def lora_server(server_factory, lora_dir):
    server = server_factory(["--lora-dir", lora_dir, "--api-auth", f"{USER}:{PASSWORD}"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(lora_server) -> ApiClient:
    return ApiClient(lora_server.url, auth=(USER, PASSWORD))


def txt2img(client: ApiClient, prompt: str) -> dict:
    return client.ok("POST", "txt2img", {**TINY, "prompt": prompt, "sampler_name": "Euler"})


def image_bytes(result: dict) -> bytes:
    return from_base64(result["images"][0]).convert("RGB").tobytes()


def test_loras_lists_the_tiny_lora(client, lora_dir):
    loras = client.ok("GET", "loras")
    assert [item["name"] for item in loras] == ["tiny"]
    assert loras[0]["alias"] == "tiny"
    assert loras[0]["path"].endswith("tiny.safetensors") and loras[0]["path"].startswith(lora_dir)
    assert loras[0]["metadata"]["ss_network_dim"] == "4"


def test_refresh_loras_picks_up_a_new_file(client, lora_dir):
    make_tiny_lora("sd15", f"{lora_dir}/added.safetensors", seed=2)
    assert "added" not in [item["name"] for item in client.ok("GET", "loras")]
    assert client.ok("POST", "refresh-loras") is None
    assert "added" in [item["name"] for item in client.ok("GET", "loras")]


@pytest.mark.parametrize(("method", "path"), LORA_ROUTES)
def test_lora_routes_need_the_api_credentials(lora_server, method, path):
    anonymous = ApiClient(lora_server.url)
    response = anonymous.get(path) if method == "GET" else anonymous.post(path)
    assert response.status_code == 401
    assert response.json()["detail"] == "Incorrect username or password"


def test_txt2img_with_a_lora_changes_the_image_and_the_next_request_is_unchanged(client, lora_dir):
    plain = txt2img(client, "a red circle")
    with_lora = txt2img(client, "a red circle <lora:tiny:1>")
    after = txt2img(client, "a red circle")
    assert image_bytes(with_lora) != image_bytes(plain)
    assert image_bytes(after) == image_bytes(plain)
    with open(f"{lora_dir}/tiny.safetensors", "rb") as file:
        header_length = int.from_bytes(file.read(8), "little")
        file.seek(8 + header_length)
        shorthash = hashlib.sha256(file.read()).hexdigest()[:12]  # A1111's addnet hash: the tensor data only
    infotext = json.loads(with_lora["info"])["infotexts"][0]
    assert infotext.startswith("a red circle <lora:tiny:1>\n")
    assert f'Lora hashes: "tiny: {shorthash}"' in infotext


def test_unknown_lora_still_generates(client):
    result = txt2img(client, "a red circle <lora:no-such-lora:1>")
    assert image_bytes(result) == image_bytes(txt2img(client, "a red circle"))


def test_lora_routes_answer_beside_the_browser_ui_with_api_and_not_without(server_factory, lora_dir):
    """As in A1111, the REST API is mounted beside the UI only with --api."""
    server = server_factory(["--lora-dir", lora_dir, "--api"], nowebui=False)
    try:
        loras = ApiClient(server.url).ok("GET", "loras")
        assert "tiny" in [item["name"] for item in loras]
    finally:
        server.stop()
    without_api = server_factory(["--lora-dir", lora_dir], nowebui=False)
    try:
        assert requests.get(f"{without_api.url}/sdapi/v1/sd-models", timeout=60).status_code == 404
        assert ApiClient(without_api.url).get("loras").status_code == 200, "the extension adds its routes, as in A1111"
        progress = ApiClient(without_api.url).post("/internal/progress", {"id_task": "task(x)"})
        assert progress.status_code == 200 and progress.json()["active"] is False, "what the UI needs stays"
    finally:
        without_api.stop()
