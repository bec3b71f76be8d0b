"""Scripts and extensions through the API: /scripts, /script-info, /extensions, alwayson_scripts, script_name."""

import json
import os

import pytest

from test.extension_fixtures import TEST_EXTENSION, extension_files
from test.smoke.api_helpers import TINY, ApiClient, from_base64, gradient_image, to_base64

TEST_EXTENSION_TITLE = "Test Extension"


@pytest.fixture(scope="module")
def extension_server(server_factory):
    return server_factory(files=extension_files())


@pytest.fixture(scope="module")
def client(extension_server) -> ApiClient:
    return ApiClient(extension_server.url)


def test_scripts_lists_the_extension_scripts_by_lower_case_title(client):
    listing = client.get("scripts").json()
    for tab in ("txt2img", "img2img"):
        assert "test extension" in listing[tab]
        assert "test repeat" in listing[tab]


def test_script_info_describes_the_arguments(client):
    info = client.get("script-info").json()
    always_on = [s for s in info if s["name"] == "test extension" and not s["is_img2img"]]
    assert len(always_on) == 1
    assert always_on[0]["is_alwayson"] is True
    assert [a["label"] for a in always_on[0]["args"]] == ["Enable test extension", "Tag"]
    assert [a["value"] for a in always_on[0]["args"]] == [False, "hello"]


def test_extensions_lists_the_test_extension_enabled(client):
    names = {e["name"]: e for e in client.get("extensions").json()}
    assert names[TEST_EXTENSION]["enabled"] is True


def test_alwayson_script_reads_options_adds_infotext_and_sees_the_saved_image(client, extension_server):
    payload = {**TINY, "prompt": "a red circle", "save_images": True,
               "override_settings": {"CLIP_stop_at_last_layers": 2},
               "alwayson_scripts": {"TEST extension": {"args": [True, "api"]}}}
    result = client.post("txt2img", payload).json()
    info = json.loads(result["info"])
    assert info["extra_generation_params"]["Test extension"] == "api clip 2"
    assert "Test extension: api clip 2" in info["infotexts"][0]
    assert "Test extension: api clip 2" in from_base64(result["images"][0]).info["parameters"]
    with open(os.path.join(extension_server.data_dir, "test-extension-saved.jsonl"), encoding="utf8") as file:
        saved = [json.loads(line) for line in file]
    assert any("Test extension: api clip 2" in record["infotext"] and os.path.isfile(record["filename"])
               for record in saved)


def test_alwayson_script_with_default_args_does_nothing(client):
    info = json.loads(client.post("txt2img", {**TINY, "prompt": "x"}).json()["info"])
    assert "Test extension" not in info["extra_generation_params"]


def test_selectable_script_runs_with_its_args(client):
    result = client.post("txt2img", {**TINY, "prompt": "x", "script_name": "test repeat", "script_args": [3]}).json()
    info = json.loads(result["info"])
    assert len(result["images"]) == 3
    assert [f"Seed: {TINY['seed'] + i}," in text for i, text in enumerate(info["infotexts"])] == [True] * 3


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"script_name": "no such script"}, 404, "script_name"),
    ({"alwayson_scripts": {"no such script": {"args": []}}}, 422, "alwayson_scripts.no such script"),
    ({"alwayson_scripts": {"Test Repeat": {"args": [1]}}}, 422, "alwayson_scripts.Test Repeat"),
    ({"alwayson_scripts": {"Test Extension": ["not", "an", "object"]}}, 422, "alwayson_scripts.Test Extension"),
    ({"script_name": "Test Repeat", "script_args": [1, 2, 3]}, 422, "script_args"),
    ({"script_name": "Test Repeat", "script_args": [0]}, 422, "script_args"),
])
def test_bad_script_requests_are_4xx_naming_the_field(client, payload, status, field):
    response = client.post("txt2img", {**TINY, "prompt": "x", **payload})
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(field)
    assert client.get("progress").status_code == 200


def test_img2img_runs_the_alwayson_script(client):
    payload = {**TINY, "prompt": "x", "init_images": [to_base64(gradient_image())], "denoising_strength": 0.5,
               "alwayson_scripts": {"test extension": {"args": [True, "i2i"]}}}
    info = json.loads(client.post("img2img", payload).json()["info"])
    assert info["extra_generation_params"]["Test extension"] == "i2i clip 1"


def test_options_an_extension_adds_in_on_ui_settings_are_served_and_settable(client):
    assert client.get("options").json()["test_extension_note"] == "none"
    assert client.post("options", {"test_extension_note": "set by the API"}).status_code == 200
    assert client.get("options").json()["test_extension_note"] == "set by the API"
