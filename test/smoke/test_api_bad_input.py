"""Bad input is answered 4xx with a message naming the field, never 5xx, and the server keeps working."""

import base64

import pytest
import requests
from PIL import Image

from test.smoke.api_helpers import TINY, ApiClient, check_generation, gradient_image, to_base64

GOOD_IMAGE = to_base64(gradient_image())
NOT_AN_IMAGE = base64.b64encode(b"hello, this is text and not a picture").decode("ascii")
IMG2IMG = {**TINY, "init_images": [GOOD_IMAGE]}
HIRES = {**TINY, "enable_hr": True}
BIG_PLAIN_IMAGE = to_base64(Image.new("RGB", (2048, 2048), "white"))

# (id, route, JSON payload, expected status, text the detail must contain)
CASES = [
    ("steps-zero", "txt2img", {"steps": 0}, 422, "steps"),
    ("steps-too-many", "txt2img", {"steps": 151}, 422, "steps"),
    ("steps-text", "txt2img", {"steps": "many"}, 422, "steps"),
    ("width-negative", "txt2img", {"width": -64}, 422, "width"),
    ("width-absurd", "txt2img", {"width": 100000}, 422, "width"),
    ("height-tiny", "txt2img", {"height": 10}, 422, "height"),
    ("width-below-minimum", "txt2img", {"width": 24}, 422, "width"),
    ("batch-size-zero", "txt2img", {"batch_size": 0}, 422, "batch_size"),
    ("batch-size-absurd", "txt2img", {"batch_size": 1000}, 422, "batch_size"),
    ("n-iter-absurd", "txt2img", {"n_iter": 1000}, 422, "n_iter"),
    ("cfg-negative", "txt2img", {"cfg_scale": -1}, 422, "cfg_scale"),
    ("cfg-absurd", "txt2img", {"cfg_scale": 31}, 422, "cfg_scale"),
    ("seed-text", "txt2img", {"seed": "abc"}, 422, "seed"),
    ("seed-fraction", "txt2img", {"seed": 1.5}, 422, "seed"),
    ("seed-below-minus-one", "txt2img", {"seed": -2}, 422, "seed"),
    ("prompt-number", "txt2img", {"prompt": 123}, 422, "prompt"),
    ("styles-not-a-list", "txt2img", {"styles": "one style"}, 422, "styles"),
    ("denoising-above-one", "txt2img", {"denoising_strength": 1.5}, 422, "denoising_strength"),
    ("subseed-strength-negative", "txt2img", {"subseed_strength": -0.1}, 422, "subseed_strength"),
    ("override-not-a-dict", "txt2img", {"override_settings": [1, 2]}, 422, "override_settings"),
    ("unknown-sampler", "txt2img", {"sampler_name": "No Such Sampler"}, 404, "sampler_name"),
    ("unknown-sampler-index", "txt2img", {"sampler_index": "Nope"}, 404, "sampler_index"),
    ("unknown-scheduler", "txt2img", {"scheduler": "wobbly"}, 404, "scheduler"),
    ("unknown-hires-upscaler", "txt2img", {**HIRES, "hr_upscaler": "Nope"}, 404, "hr_upscaler"),
    ("unknown-hires-sampler", "txt2img", {**HIRES, "hr_sampler_name": "Nope"}, 404, "hr_sampler_name"),
    ("hires-scale-absurd", "txt2img", {**HIRES, "hr_scale": 10}, 422, "hr_scale"),
    ("override-unknown-option", "txt2img", {"override_settings": {"no_such_option": 1}}, 422,
     "override_settings.no_such_option"),
    ("override-wrong-type", "txt2img", {"override_settings": {"samples_save": "yes"}}, 422,
     "override_settings.samples_save"),
    ("override-restricted", "txt2img", {"override_settings": {"api_enable_requests": False}}, 403,
     "override_settings.api_enable_requests"),
    ("override-unknown-vae", "txt2img", {"override_settings": {"sd_vae": "missing.safetensors"}}, 404,
     "override_settings.sd_vae"),
    ("unknown-script", "txt2img", {"script_name": "no such script"}, 404, "script_name"),
    ("unknown-alwayson-script", "txt2img", {"alwayson_scripts": {"Nope": {"args": []}}}, 422,
     "alwayson_scripts.Nope"),
    ("infotext-out-of-range", "txt2img", {"infotext": "x\nSteps: 500, Sampler: Euler, Seed: 1"}, 422, "steps"),
    ("firstpass-image-garbage", "txt2img", {"firstpass_image": NOT_AN_IMAGE}, 422, "firstpass_image"),
    ("json-array-body", "txt2img", [1, 2, 3], 422, "body"),
    ("init-images-empty", "img2img", {**TINY, "init_images": []}, 422, "init_images"),
    ("init-images-missing", "img2img", dict(TINY), 422, "init_images"),
    ("init-image-not-base64", "img2img", {**IMG2IMG, "init_images": ["@@@@ not base64 @@@@!"]}, 422,
     "init_images[0]"),
    ("init-image-not-an-image", "img2img", {**IMG2IMG, "init_images": [GOOD_IMAGE, NOT_AN_IMAGE], "batch_size": 2},
     422, "init_images[1]"),
    ("init-image-bad-data-uri", "img2img", {**IMG2IMG, "init_images": ["data:image/png;base64,AAAA"]}, 422,
     "init_images[0]"),
    ("init-image-number", "img2img", {**IMG2IMG, "init_images": [42]}, 422, "init_images[0]"),
    ("init-image-local-url", "img2img", {**IMG2IMG, "init_images": ["http://127.0.0.1:9/x.png"]}, 403,
     "init_images[0]"),
    ("too-many-init-images", "img2img", {**IMG2IMG, "init_images": [GOOD_IMAGE] * 3, "batch_size": 2}, 422,
     "init_images"),
    ("mask-garbage", "img2img", {**IMG2IMG, "mask": NOT_AN_IMAGE}, 422, "mask"),
    ("latent-mask-garbage", "img2img", {**IMG2IMG, "latent_mask": "%%%"}, 422, "latent_mask"),
    ("resize-mode-absurd", "img2img", {**IMG2IMG, "resize_mode": 7}, 422, "resize_mode"),
    ("inpainting-fill-absurd", "img2img", {**IMG2IMG, "inpainting_fill": 4}, 422, "inpainting_fill"),
    ("mask-blur-negative", "img2img", {**IMG2IMG, "mask_blur": -1}, 422, "mask_blur"),
    ("img2img-denoising-absurd", "img2img", {**IMG2IMG, "denoising_strength": 2}, 422, "denoising_strength"),
    ("option-unknown", "options", {"no_such_key": 1}, 422, "no_such_key"),
    ("option-restricted", "options", {"api_enable_requests": False}, 403, "api_enable_requests"),
    ("option-wrong-type", "options", {"jpeg_quality": "high"}, 422, "jpeg_quality"),
    ("option-unknown-checkpoint", "options", {"sd_model_checkpoint": "missing.safetensors"}, 404,
     "sd_model_checkpoint"),
    ("option-unknown-vae", "options", {"sd_vae": "missing.safetensors"}, 404, "sd_vae"),
    ("option-unwritable-format", "options", {"samples_format": "bogus"}, 422, "samples_format"),
    ("override-unwritable-format", "txt2img", {"override_settings": {"grid_format": "nope"}}, 422,
     "override_settings.grid_format"),
    ("options-not-an-object", "options", ["samples_save"], 422, "body"),
    ("png-info-empty", "png-info", {"image": ""}, 422, "image"),
    ("png-info-missing", "png-info", {}, 422, "image"),
    ("png-info-garbage", "png-info", {"image": NOT_AN_IMAGE}, 422, "image"),
    ("extras-unknown-upscaler", "extra-single-image", {"image": GOOD_IMAGE, "upscaler_1": "Nope"}, 404, "upscaler_1"),
    ("extras-unknown-upscaler-2", "extra-single-image", {"image": GOOD_IMAGE, "upscaler_2": "Nope"}, 404,
     "upscaler_2"),
    ("extras-image-garbage", "extra-single-image", {"image": NOT_AN_IMAGE, "upscaler_1": "Lanczos"}, 422, "image"),
    ("extras-resize-mode", "extra-single-image", {"image": GOOD_IMAGE, "resize_mode": 2}, 422, "resize_mode"),
    ("extras-result-too-big", "extra-single-image", {"image": BIG_PLAIN_IMAGE, "upscaler_1": "Lanczos",
                                                     "upscaling_resize": 8}, 422, "upscaling_resize"),
    ("extras-batch-missing-list", "extra-batch-images", {"upscaler_1": "Lanczos"}, 422, "imageList"),
    ("extras-batch-bad-item", "extra-batch-images", {"imageList": [{"data": GOOD_IMAGE, "name": "a"},
                                                                   {"data": "!!", "name": "b"}]}, 422,
     "imageList[1].data"),
    ("internal-progress-bad-id", "/internal/progress", {"id_task": "x", "id_live_preview": "latest"}, 422,
     "id_live_preview"),
]


@pytest.fixture(scope="module")
def api(base_url) -> ApiClient:
    return ApiClient(base_url)


def assert_named_error(response: requests.Response, status: int, field: str) -> None:
    assert response.status_code == status, f"{response.status_code}: {response.text[:1000]}"
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert field in body["detail"], body["detail"]


@pytest.mark.parametrize(("route", "payload", "status", "field"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_a_named_4xx(api, route, payload, status, field):
    assert_named_error(api.post(route, payload), status, field)


def test_invalid_json_body(api):
    response = api.session.post(api.url("txt2img"), data=b'{"prompt": "unterminated', timeout=60,
                                headers={"content-type": "application/json"})
    assert_named_error(response, 422, "body")
    assert "invalid JSON" in response.json()["detail"]


def test_not_utf8_body(api):
    response = api.session.post(api.url("txt2img"), data=b'{"prompt": "\xff\xfe"}', timeout=60,
                                headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert "body" in response.json()["detail"]


def test_bad_query_parameter(api):
    assert_named_error(api.get("progress?skip_current_image=perhaps"), 422, "skip_current_image")


def test_validation_error_lists_every_field(api):
    response = api.post("txt2img", {"steps": 0, "width": "wide", "cfg_scale": 99})
    assert_named_error(response, 422, "steps")
    body = response.json()
    assert {"steps", "width", "cfg_scale"} <= {error["loc"][-1] for error in body["errors"]}
    assert body["body"] == {"steps": 0, "width": "wide", "cfg_scale": 99}


def test_unknown_route_and_method(api):
    assert api.get("no-such-route").status_code == 404
    assert api.get("txt2img").status_code == 405


def test_restricted_and_failed_options_changed_nothing(api):
    options = api.ok("GET", "options")
    assert options["api_enable_requests"] is True and options["jpeg_quality"] != "high"
    assert options["sd_model_checkpoint"].startswith("tiny-sd15")


def test_server_still_generates_and_logged_no_crash(api, live_server):
    check_generation(api.ok("POST", "txt2img", {**TINY, "prompt": "still alive"}), 1)
    check_generation(api.ok("POST", "img2img", IMG2IMG), 1)
    assert live_server.is_running()
    log = live_server.log()
    assert "Traceback" not in log and "API error" not in log, log[-3000:]
