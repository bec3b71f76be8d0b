"""The PyPI `webuiapi` client (what many A1111 users script with) against our server."""

import threading
import time

import pytest
import webuiapi
from PIL import Image

from test.smoke.api_helpers import centre_mask, gradient_image, image_params

SMALL = {"width": 64, "height": 64, "steps": 3}


@pytest.fixture(scope="module")
def client(base_url) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(baseurl=f"{base_url}/sdapi/v1", sampler="Euler a", steps=3)


def test_txt2img(client):
    result = client.txt2img(prompt="a red cube", negative_prompt="blue", seed=11, **SMALL)
    assert isinstance(result.image, Image.Image) and result.image.size == (64, 64)
    assert result.info["all_seeds"] == [11] and result.info["sampler_name"] == "Euler a"
    assert result.parameters["prompt"] == "a red cube"
    params = image_params(result.image)
    assert (params["Prompt"], params["Negative prompt"], params["Steps"]) == ("a red cube", "blue", "3")


def test_txt2img_hires_with_the_clients_defaults(client):
    result = client.txt2img(prompt="hires", enable_hr=True, hr_scale=1.5, **SMALL)
    assert result.image.size == (96, 96)
    assert image_params(result.image)["Hires upscaler"] == "Latent"


def test_img2img_with_mask(client):
    result = client.img2img(images=[gradient_image()], mask_image=centre_mask(), prompt="inpaint", seed=5,
                            denoising_strength=0.6, **SMALL)
    assert result.image.size == (64, 64)
    assert result.info["denoising_strength"] == 0.6
    assert image_params(result.image)["Mask blur"] == "4"


def test_png_info(client):
    generated = client.txt2img(prompt="read me back", seed=21, **SMALL).image
    result = client.png_info(generated)
    assert result.info == generated.info["parameters"]
    assert result.parameters["Prompt"] == "read me back" and result.parameters["Seed"] == "21"


def test_extra_single_image(client):
    result = client.extra_single_image(gradient_image(), upscaler_1=webuiapi.HiResUpscaler.Lanczos,
                                       upscaling_resize=2)
    assert result.image.size == (128, 128)
    assert "Lanczos" in result.info


def test_get_and_set_options(client):
    client.set_options({"jpeg_quality": 61})
    assert client.get_options()["jpeg_quality"] == 61
    client.set_options({"jpeg_quality": 80})
    assert client.get_options()["jpeg_quality"] == 80


def test_listings(client):
    assert "Euler a" in client.util_get_sampler_names()
    assert {"automatic", "karras"} <= set(client.util_get_scheduler_names())
    assert any(name.startswith("tiny-sd15.safetensors [") for name in client.util_get_model_names())
    assert client.util_get_current_model().startswith("tiny-sd15.safetensors [")
    assert {"Latent", "Lanczos"} <= {u["name"] for u in client.get_upscalers()} | \
        {m["name"] for m in client.get_latent_upscale_modes()}
    assert client.get_cmd_flags()["nowebui"] is True
    listed = client.get_scripts()
    assert {"x/y/z plot", "prompt matrix", "prompts from file or textbox"} <= set(listed["txt2img"])
    assert "sd upscale" in listed["img2img"] and "sd upscale" not in listed["txt2img"]


def test_util_set_model_finds_the_checkpoint(client):
    client.util_set_model("tiny-sd15")
    assert client.util_get_current_model().startswith("tiny-sd15.safetensors [")


def test_progress_and_interrupt(client):
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=client.txt2img(
        prompt="interrupt me", width=64, height=64, steps=150, n_iter=20)), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while client.get_progress()["state"]["sampling_step"] < 2:
            assert time.monotonic() < deadline, "generation did not start"
            time.sleep(0.1)
        progress = client.get_progress()
        assert 0 < progress["progress"] < 1 and progress["state"]["job_count"] == 20
    finally:
        client.interrupt()
        worker.join(120)
    assert not worker.is_alive()
    assert 1 <= len(outcome["result"].images) < 20
    client.util_wait_for_ready(check_interval=0.1)
    assert client.get_progress()["progress"] == 0
