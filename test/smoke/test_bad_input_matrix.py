"""M12: bad input against the real server. Each case is answered with its 4xx naming the field (never a 500, never
a hang), the server answers the next request, and the options (in memory and in config.json) are unchanged."""

import base64
import io
import json
import os

import pytest
import requests
from PIL import Image

TIMEOUT_S = 120
TINY = {"prompt": "a red circle", "steps": 1, "width": 64, "height": 64}


def png(size=(64, 64), colour="red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


IMAGE, SMALL_MASK = png(), png((32, 32), "white")
OPTION_CASES = [  # (option, bad value, status)
    ("CLIP_stop_at_last_layers", 13, 422), ("CLIP_stop_at_last_layers", 1000, 422),
    ("CLIP_stop_at_last_layers", -5, 422), ("jpeg_quality", -5, 422), ("jpeg_quality", 1000, 422),
    ("samples_format", "xbm", 422), ("samples_format", "psd", 422), ("samples_format", "exe", 422),
    ("grid_format", "pdf-not-really", 422), ("show_progress_every_n_steps", 100000, 422),
    ("live_previews_image_format", "gif", 422), ("upscaler_for_img2img", "no-such-upscaler", 422),
    ("eta_noise_seed_delta", "NaN", 422), ("s_noise", "Infinity", 422), ("eta_ancestral", "1e309", 422),
    ("no_such_option", 1, 422), ("samples_save", "yes", 422), ("api_useragent", "spoofed", 403),
    ("outdir_samples", "/etc", 403), ("outdir_txt2img_grids", "../../outside", 403),
    ("directories_filename_pattern", "../../[seed]", 403), ("samples_filename_pattern", "/abs/[seed]", 403),
    ("samples_filename_pattern", "[seed]\u0000", 422), ("sd_vae", "no-such.vae", 404),
    ("sd_model_checkpoint", "no-such-model", 404),
]
NUMBER_CASES = [  # (field, raw JSON number)
    ("cfg_scale", "NaN"), ("cfg_scale", "Infinity"), ("cfg_scale", "-Infinity"), ("cfg_scale", "1e309"),
    ("steps", "NaN"), ("subseed_strength", "Infinity"), ("denoising_strength", "NaN"), ("hr_scale", "1e309"),
    ("eta", "NaN"), ("s_noise", "-Infinity"), ("seed", "9223372036854775808"), ("seed", "1e400"),
    ("width", "1e309"), ("batch_size", "NaN"),
]
BODY_CASES = [  # (name, path, body, status, field)
    ("steps 0", "txt2img", {**TINY, "steps": 0}, 422, "steps"),
    ("steps 1000", "txt2img", {**TINY, "steps": 1000}, 422, "steps"),
    ("width 8", "txt2img", {**TINY, "width": 8}, 422, "width"),
    ("batch_size 0", "txt2img", {**TINY, "batch_size": 0}, 422, "batch_size"),
    ("n_iter 0", "txt2img", {**TINY, "n_iter": 0}, 422, "n_iter"),
    ("unknown sampler", "txt2img", {**TINY, "sampler_name": "No Such"}, 404, "sampler_name"),
    ("unknown scheduler", "txt2img", {**TINY, "scheduler": "nope"}, 404, "scheduler"),
    ("unknown hires upscaler", "txt2img", {**TINY, "enable_hr": True, "hr_upscaler": "nope"}, 404, "hr_upscaler"),
    ("unknown script", "txt2img", {**TINY, "script_name": "no such script"}, 404, "script_name"),
    ("unknown always-on script", "txt2img", {**TINY, "alwayson_scripts": {"nope": {"args": []}}}, 422,
     "alwayson_scripts.nope"),
    ("styles not a list", "txt2img", {**TINY, "styles": "a style"}, 422, "styles"),
    ("prompt a number", "txt2img", {**TINY, "prompt": 123}, 422, "prompt"),
    ("prompt a lone surrogate", "txt2img", {**TINY, "prompt": "a \ud800 b"}, 422, "prompt"),
    ("negative prompt a lone surrogate", "txt2img", {**TINY, "negative_prompt": "\udfff"}, 422, "negative_prompt"),
    ("style name a lone surrogate", "txt2img", {**TINY, "styles": ["\ud800"]}, 422, "styles[0]"),
    ("prompt of 1 MB", "txt2img", {**TINY, "prompt": "a " * 500_000}, 422, "prompt"),
    ("negative prompt of 1 MB", "txt2img", {**TINY, "negative_prompt": "b " * 500_000}, 422, "negative_prompt"),
    ("override_settings not an object", "txt2img", {**TINY, "override_settings": [1]}, 422, "override_settings"),
    ("no init image", "img2img", {**TINY}, 422, "init_images"),
    ("init image not base64", "img2img", {**TINY, "init_images": ["%%%"]}, 422, "init_images[0]"),
    ("init image not an image", "img2img", {**TINY, "init_images": [base64.b64encode(b"hello").decode()]}, 422,
     "init_images[0]"),
    ("init image from a local address", "img2img", {**TINY, "init_images": ["http://127.0.0.1:9/x.png"]}, 403,
     "init_images[0]"),
    ("init image URL with a port out of range", "img2img", {**TINY, "init_images": ["http://example.com:99999/x.png"]},
     422, "init_images[0]"),
    ("init image URL with a broken IPv6 host", "img2img", {**TINY, "init_images": ["http://[::1/x.png"]}, 422,
     "init_images[0]"),
    ("mask not an image", "img2img", {**TINY, "init_images": [IMAGE], "mask": "AAAA"}, 422, "mask"),
    ("resize_mode 7", "img2img", {**TINY, "init_images": [IMAGE], "resize_mode": 7}, 422, "resize_mode"),
    ("inpainting_fill 9", "img2img", {**TINY, "init_images": [IMAGE], "inpainting_fill": 9}, 422, "inpainting_fill"),
    ("png-info not an image", "png-info", {"image": "AAAA"}, 422, "image"),
    ("extras unknown upscaler", "extra-single-image", {"image": IMAGE, "upscaler_1": "nope"}, 404, "upscaler_1"),
    ("progress of an unknown type", "/internal/progress", {"id_task": 5}, 422, "id_task"),
]


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def baseline(server):
    """The options before the matrix, in memory and on disk (a first POST writes config.json)."""
    assert requests.post(f"{server.url}/sdapi/v1/options", json={"jpeg_quality": 80}, timeout=TIMEOUT_S).ok
    options = requests.get(f"{server.url}/sdapi/v1/options", timeout=TIMEOUT_S).json()
    with open(os.path.join(server.data_dir, "config.json"), encoding="utf8") as file:
        return options, file.read()


def send(server, path: str, body=None, raw: str | None = None) -> requests.Response:
    url = server.url + (path if path.startswith("/") else f"/sdapi/v1/{path}")
    if raw is not None:
        return requests.post(url, data=raw.encode("utf8", "surrogatepass"), timeout=TIMEOUT_S,
                             headers={"Content-Type": "application/json"})
    data = json.dumps(body, ensure_ascii=True)
    return requests.post(url, data=data, timeout=TIMEOUT_S, headers={"Content-Type": "application/json"})


def assert_refused(server, baseline, response, status: int, field: str) -> None:
    assert response.status_code == status, response.text[:1000]
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert field in str(body["detail"]), body["detail"]
    assert requests.get(f"{server.url}/sdapi/v1/sd-models", timeout=TIMEOUT_S).status_code == 200, "still serving"
    options, on_disk = baseline
    assert requests.get(f"{server.url}/sdapi/v1/options", timeout=TIMEOUT_S).json() == options
    with open(os.path.join(server.data_dir, "config.json"), encoding="utf8") as file:
        assert file.read() == on_disk


@pytest.mark.parametrize(("option", "value", "status"), OPTION_CASES, ids=[f"{o}={v!r}" for o, v, _ in OPTION_CASES])
@pytest.mark.parametrize("surface", ["POST options", "override_settings"])
def test_a_bad_option_value_is_refused(server, baseline, surface, option, value, status):
    literal = value if value in ("NaN", "Infinity", "1e309") and option in ("eta_noise_seed_delta", "s_noise",
                                                                           "eta_ancestral") else json.dumps(value)
    if surface == "POST options":
        response = send(server, "options", raw=f'{{"{option}": {literal}}}')
        field = option
    else:
        response = send(server, "txt2img", raw=f'{{"prompt": "x", "steps": 1, "width": 64, "height": 64, '
                                               f'"override_settings": {{"{option}": {literal}}}}}')
        field = f"override_settings.{option}"
    assert_refused(server, baseline, response, status, field)


@pytest.mark.parametrize(("field", "number"), NUMBER_CASES, ids=[f"{f}={n}" for f, n in NUMBER_CASES])
def test_a_number_that_is_no_number_is_refused(server, baseline, field, number):
    path = "img2img" if field == "denoising_strength" else "txt2img"
    images = f', "init_images": ["{IMAGE}"]' if path == "img2img" else ""
    raw = f'{{"prompt": "x", "width": 64, "height": 64, "steps": 1{images}, "{field}": {number}}}'.replace(
        f'"{field}": {number}, "{field}"', f'"{field}"')
    if field in ("width", "steps"):
        raw = f'{{"prompt": "x"{images}, "{field}": {number}}}'
    assert_refused(server, baseline, send(server, path, raw=raw), 422, field)


@pytest.mark.parametrize(("name", "path", "body", "status", "field"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_a_bad_request_is_refused(server, baseline, name, path, body, status, field):
    assert_refused(server, baseline, send(server, path, body), status, field)


def test_a_body_over_the_limit_is_a_413(server, baseline):
    too_big = '{"prompt": "' + "a" * (65 * 1024 * 1024) + '"}'
    assert_refused(server, baseline, send(server, "txt2img", raw=too_big), 413, "body")


def test_invalid_json_is_a_422_naming_the_body(server, baseline):
    assert_refused(server, baseline, send(server, "txt2img", raw='{"prompt": "x",'), 422, "body")


def test_a_mask_of_another_size_is_resized_as_a1111_does(server, baseline):
    response = send(server, "img2img", {**TINY, "init_images": [IMAGE], "mask": SMALL_MASK})
    assert response.status_code == 200, response.text[:1000]


def test_the_largest_seed_generates(server, baseline):
    response = send(server, "txt2img", {**TINY, "seed": 2**63 - 1})
    assert response.status_code == 200, response.text[:1000]
    assert json.loads(response.json()["info"])["seed"] == 2**63 - 1


def test_the_served_schema_states_the_largest_seed_exactly(server):
    schema = requests.get(f"{server.url}/openapi.json", timeout=TIMEOUT_S).json()
    seed = schema["components"]["schemas"]["StableDiffusionTxt2ImgProcessingAPI"]["properties"]["seed"]
    assert (seed["maximum"], seed["minimum"]) == (2**63 - 1, -1)
    assert isinstance(seed["maximum"], int), "not the float 2**63, which the server refuses"


def test_progress_without_a_task_id_while_idle_says_not_active(server, baseline):
    response = send(server, "/internal/progress", {})
    assert response.status_code == 200 and response.json()["active"] is False
