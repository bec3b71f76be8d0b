"""Every API route against the live server, and the txt2img / img2img payload matrix with real sampling."""

import contextlib
import json
import os
import shutil
import threading
import time

import pytest
import requests

from test.conftest import REPO_ROOT
from test.smoke.api_helpers import (
    TINY,
    ApiClient,
    centre_mask,
    check_generation,
    from_base64,
    gradient_image,
    image_params,
    to_base64,
)

LONG_RUN = {"prompt": "a long run", "width": 64, "height": 64, "steps": 150, "n_iter": 20, "seed": 7}


@pytest.fixture(scope="module")
def api(base_url) -> ApiClient:
    return ApiClient(base_url)


def txt2img(api: ApiClient, **payload) -> dict:
    return api.ok("POST", "txt2img", {**TINY, **payload})


def img2img(api: ApiClient, **payload) -> dict:
    return api.ok("POST", "img2img", {**TINY, "init_images": [to_base64(gradient_image())], **payload})


# --- listings -------------------------------------------------------------------------------------------------------

def test_sd_models_lists_the_checkpoint(api, live_server, tiny_checkpoint):
    models = api.ok("GET", "sd-models")
    model = next(m for m in models if m["filename"] == os.path.abspath(tiny_checkpoint))
    assert set(model) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    assert model["model_name"] == "tiny-sd15"
    assert model["hash"] == model["sha256"][:10]
    assert model["title"] == f"tiny-sd15.safetensors [{model['hash']}]"


def test_samplers_and_schedulers(api):
    samplers = {s["name"]: s for s in api.ok("GET", "samplers")}
    assert {"Euler a", "Euler", "DPM++ 2M", "DDIM", "UniPC"} <= set(samplers)
    assert all(set(s) == {"name", "aliases", "options"} for s in samplers.values())
    assert "k_euler_a" in samplers["Euler a"]["aliases"]
    assert samplers["DPM++ 2M"]["options"]["scheduler"] == "karras"
    schedulers = {s["name"]: s for s in api.ok("GET", "schedulers")}
    assert all(set(s) == {"name", "label", "aliases", "default_rho", "need_inner_model"} for s in schedulers.values())
    assert schedulers["karras"]["label"] == "Karras" and schedulers["karras"]["default_rho"] == 7.0
    assert schedulers["automatic"]["label"] == "Automatic"


def test_upscalers_and_latent_modes(api):
    upscalers = api.ok("GET", "upscalers")
    assert {"None", "Lanczos", "Nearest"} <= {u["name"] for u in upscalers}
    assert all(set(u) == {"name", "model_name", "model_path", "model_url", "scale"} for u in upscalers)
    assert {"Latent", "Latent (nearest-exact)"} <= {m["name"] for m in api.ok("GET", "latent-upscale-modes")}


def test_prompt_styles_come_from_styles_csv(api):
    assert api.ok("GET", "prompt-styles") == [
        {"name": "smoke style", "prompt": "{prompt}, smoke style text", "negative_prompt": "smoke negative"}]


def test_empty_listings_until_their_milestones(api):
    assert api.ok("GET", "face-restorers") == []
    assert api.ok("GET", "embeddings") == {"loaded": {}, "skipped": {}}
    # the built-in extensions only (A1111 lists its built-in ones too)
    builtin = sorted(name for name in os.listdir(os.path.join(REPO_ROOT, "extensions-builtin"))
                     if os.path.isdir(os.path.join(REPO_ROOT, "extensions-builtin", name)))
    listed = api.ok("GET", "extensions")
    assert "Lora" in builtin
    assert sorted(e["name"] for e in listed) == builtin and all(e["enabled"] for e in listed)


def test_memory(api):
    memory = api.ok("GET", "memory")
    ram = memory["ram"]
    assert 0 < ram["used"] < ram["total"] and ram["free"] == ram["total"] - ram["used"]
    assert "error" in memory["cuda"] or "system" in memory["cuda"]


def test_cmd_flags_are_the_servers(api, live_server, tiny_checkpoint):
    flags = api.ok("GET", "cmd-flags")
    assert flags["nowebui"] is True
    assert flags["ckpt"] == tiny_checkpoint
    assert f"http://127.0.0.1:{flags['port']}" == live_server.url
    assert flags["api_auth"] is None


def test_refresh_checkpoints_finds_a_new_file(api, live_server, tiny_checkpoint):
    folder = os.path.join(live_server.data_dir, "models", "Stable-diffusion")
    os.makedirs(folder, exist_ok=True)
    shutil.copy(tiny_checkpoint, os.path.join(folder, "copied.safetensors"))
    assert "copied" not in {m["model_name"] for m in api.ok("GET", "sd-models")}
    assert api.ok("POST", "refresh-checkpoints") == {"skipped": {}}
    assert {"copied", "tiny-sd15"} <= {m["model_name"] for m in api.ok("GET", "sd-models")}


def test_refresh_vae_finds_a_new_file(api, live_server):
    folder = os.path.join(live_server.data_dir, "models", "VAE")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "smoke.vae.safetensors")
    with open(path, "wb") as file:
        file.write(b"not loaded by listing")
    assert api.ok("GET", "sd-vae") == []
    assert api.ok("POST", "refresh-vae") is None
    assert api.ok("GET", "sd-vae") == [{"model_name": "smoke.vae.safetensors", "filename": path}]


def test_refresh_embeddings(api):
    assert api.ok("POST", "refresh-embeddings") is None


def test_openapi_describes_every_route_and_option(api):
    schema = api.ok("GET", "/openapi.json")
    paths = set(schema["paths"])
    for route in ("txt2img", "img2img", "options", "progress", "png-info", "extra-single-image", "memory"):
        assert f"/sdapi/v1/{route}" in paths
    assert "/internal/progress" in paths
    assert "sd_model_checkpoint" in schema["components"]["schemas"]["Options"]["properties"]
    width = schema["components"]["schemas"]["StableDiffusionTxt2ImgProcessingAPI"]["properties"]["width"]
    assert width["minimum"] == 32 and width["maximum"] == 2048 and "multiple of 8" in width["description"]
    assert api.get("/docs").status_code == 200


# --- options ----------------------------------------------------------------------------------------------------------

def test_options_get_has_every_setting(api, tiny_checkpoint):
    options = api.ok("GET", "options")
    assert options["samples_format"] == "png"
    assert options["CLIP_stop_at_last_layers"] == 1
    assert options["sd_model_checkpoint"].startswith("tiny-sd15.safetensors [")
    assert len(options) > 200


def test_options_set_get_and_persisted(api, live_server):
    before = api.ok("GET", "options")
    assert api.ok("POST", "options", {"jpeg_quality": 77, "grid_background_color": "#fefefe"}) is None
    after = api.ok("GET", "options")
    assert after["jpeg_quality"] == 77 and after["grid_background_color"] == "#fefefe"
    assert {k: v for k, v in after.items() if k not in ("jpeg_quality", "grid_background_color")} == \
        {k: v for k, v in before.items() if k not in ("jpeg_quality", "grid_background_color")}
    with open(os.path.join(live_server.data_dir, "config.json"), encoding="utf8") as file:
        saved = json.load(file)
    assert saved["jpeg_quality"] == 77 and saved["grid_background_color"] == "#fefefe"


def test_options_samples_format_applies_to_returned_images(api):
    api.ok("POST", "options", {"samples_format": "jpg"})
    try:
        result = txt2img(api, prompt="jpeg please")
    finally:
        api.ok("POST", "options", {"samples_format": "png"})
    image = from_base64(result["images"][0])
    assert image.format == "JPEG"
    from modules.images import read_info_from_image

    assert read_info_from_image(image)[0] == json.loads(result["info"])["infotexts"][0]


def test_options_select_checkpoint_by_title(api):
    title = api.ok("GET", "options")["sd_model_checkpoint"]
    assert api.ok("POST", "options", {"sd_model_checkpoint": title}) is None
    assert api.ok("GET", "options")["sd_model_checkpoint"] == title


# --- txt2img matrix -------------------------------------------------------------------------------------------------

PROMPT_FORMS = [
    "a cat",
    "(emphasis) ((more)) [less] (explicit:1.5) \\(literal parens\\)",
    "a [cat:dog:0.5] on a mat",
    "a [cat:dog:1] by step number",
    "a [added:1] and [removed::1]",
    "an [apple|orange] alternating",
    "first chunk BREAK second chunk",
    " ".join(["long prompt"] * 60),
]


@pytest.mark.parametrize("prompt", PROMPT_FORMS)
def test_txt2img_prompt_syntax(api, prompt):
    result = txt2img(api, prompt=prompt, negative_prompt="blurry, (ugly:1.2)")
    image = check_generation(result, 1)[0]
    info = json.loads(result["info"])
    assert info["prompt"] == prompt and info["negative_prompt"] == "blurry, (ugly:1.2)"
    params = image_params(image)
    assert params["Prompt"] == prompt and params["Negative prompt"] == "blurry, (ugly:1.2)"


@pytest.mark.parametrize(("sampler", "scheduler", "expected"), [
    ("Euler a", None, ("Euler a", "Automatic")),
    ("Euler", "karras", ("Euler", "Karras")),
    ("DPM++ 2M", None, ("DPM++ 2M", "Automatic")),
    ("DPM++ 2M Karras", None, ("DPM++ 2M", "Karras")),
    ("k_lms", "Exponential", ("LMS", "Exponential")),
    ("DDIM", "SGM Uniform", ("DDIM", "SGM Uniform")),
    ("UniPC", "Uniform", ("UniPC", "Uniform")),
    ("Heun", "Beta", ("Heun", "Beta")),
    ("DPM++ 2S a Karras", None, ("DPM++ 2S a", "Karras")),
    ("k_dpm_ad", None, ("DPM adaptive", "Automatic")),
    ("DDIM CFG++", "align_your_steps", ("DDIM CFG++", "Align Your Steps")),
])
def test_txt2img_samplers_and_schedules(api, sampler, scheduler, expected):
    result = txt2img(api, prompt="samplers", sampler_name=sampler, scheduler=scheduler)
    params = image_params(check_generation(result, 1)[0])
    assert (params["Sampler"], params["Schedule type"]) == expected
    assert json.loads(result["info"])["sampler_name"] == expected[0]


def test_txt2img_legacy_sampler_index(api):
    result = txt2img(api, sampler_index="DDIM")
    assert image_params(check_generation(result, 1)[0])["Sampler"] == "DDIM"


def test_txt2img_default_sampler_is_a1111s(api):
    assert json.loads(txt2img(api)["info"])["sampler_name"] == "Euler"


@pytest.mark.parametrize(("width", "height", "size"), [(70, 100, (64, 96)), (72, 64, (72, 64)), (95, 79, (88, 72)),
                                                        (32, 32, (32, 32)), (39, 33, (32, 32))])
def test_txt2img_odd_sizes_round_down_to_multiples_of_8(api, width, height, size):
    result = txt2img(api, width=width, height=height)
    assert check_generation(result, 1)[0].size == size
    assert (result["parameters"]["width"], result["parameters"]["height"]) == size


@pytest.mark.parametrize(("upscaler", "extra", "size"), [
    ("Latent", {"hr_scale": 1.5}, (96, 96)),
    ("Latent (nearest-exact)", {"hr_scale": 1.25, "hr_second_pass_steps": 1}, (80, 80)),
    ("Lanczos", {"hr_resize_x": 96, "hr_resize_y": 80}, (96, 80)),
])
def test_txt2img_hires_fix(api, upscaler, extra, size):
    result = txt2img(api, enable_hr=True, hr_upscaler=upscaler, denoising_strength=0.5, **extra)
    image = check_generation(result, 1)[0]
    assert image.size == size
    params = image_params(image)
    assert params["Hires upscaler"] == upscaler and params["Denoising strength"] == "0.5"
    assert (params["Size-1"], params["Size-2"]) == ("64", "64"), "the first pass's size, as A1111 writes it"


def test_txt2img_hires_fix_without_denoising_keeps_the_upscaled_first_pass(api):
    result = txt2img(api, enable_hr=True, hr_upscaler="Lanczos", hr_scale=1.5, denoising_strength=0)
    assert check_generation(result, 1)[0].size == (96, 96)


def test_txt2img_tiling(api):
    assert image_params(check_generation(txt2img(api, tiling=True), 1)[0])["Tiling"] == "True"


def test_txt2img_batches_and_seeds(api):
    result = txt2img(api, n_iter=2, batch_size=2, seed=100, subseed=5, subseed_strength=0.3)
    images = check_generation(result, 4)
    info = json.loads(result["info"])
    assert info["all_seeds"] == [100, 100, 100, 100]
    assert info["all_subseeds"] == [5, 6, 7, 8]
    assert [image_params(i)["Variation seed"] for i in images] == ["5", "6", "7", "8"]


def test_txt2img_batch_seeds_increase(api):
    info = json.loads(txt2img(api, batch_size=2, seed=40)["info"])
    assert info["all_seeds"] == [40, 41] and info["index_of_first_image"] == 0


def test_txt2img_same_seed_same_pixels(api):
    first, second = (from_base64(txt2img(api, seed=99)["images"][0]) for _ in range(2))
    assert first.tobytes() == second.tobytes()


def test_txt2img_save_images_returns_grid_and_saves(api, live_server):
    result = txt2img(api, batch_size=2, save_images=True)
    images = check_generation(result, 3)
    assert json.loads(result["info"])["index_of_first_image"] == 1
    assert images[0].size == (128, 64)
    saved = [f for _, _, files in os.walk(os.path.join(live_server.data_dir, "outputs")) for f in files]
    assert len([f for f in saved if f.endswith(".png") and not f.startswith("grid")]) >= 2


def test_txt2img_send_images_false(api):
    result = txt2img(api, send_images=False)
    assert result["images"] == [] and json.loads(result["info"])["seed"] == 1234


def test_txt2img_styles_apply(api):
    info = json.loads(txt2img(api, prompt="base", styles=["smoke style"])["info"])
    assert info["prompt"] == "base, smoke style text"
    assert info["negative_prompt"] == "smoke negative"


def test_txt2img_override_settings_apply_then_restore(api):
    result = txt2img(api, override_settings={"CLIP_stop_at_last_layers": 2})
    assert image_params(check_generation(result, 1)[0])["Clip skip"] == "2"
    assert api.ok("GET", "options")["CLIP_stop_at_last_layers"] == 1


def test_txt2img_parameters_echo_the_request_and_ignore_unknown_fields(api):
    result = txt2img(api, prompt="echo", firstphase_width=0, some_old_field="ignored")
    assert result["parameters"]["prompt"] == "echo"
    assert result["parameters"]["steps"] == TINY["steps"]
    assert "some_old_field" not in result["parameters"]


def test_txt2img_infotext_fills_fields_not_sent(api):
    infotext = "from infotext\nNegative prompt: bad\nSteps: 3, Sampler: DDIM, CFG scale: 5, Seed: 77, Size: 64x72"
    result = api.ok("POST", "txt2img", {"infotext": infotext, "seed": 78})
    params = image_params(check_generation(result, 1)[0])
    assert (params["Prompt"], params["Negative prompt"], params["Steps"], params["Sampler"]) == \
        ("from infotext", "bad", "3", "DDIM")
    assert (params["CFG scale"], params["Seed"], params["Size-1"], params["Size-2"]) == ("5.0", "78", "64", "72")


# --- img2img matrix -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_uri", [False, True])
def test_img2img_plain(api, data_uri):
    result = img2img(api, init_images=[to_base64(gradient_image(), data_uri=data_uri)])
    image = check_generation(result, 1)[0]
    assert image_params(image)["Denoising strength"] == "0.75"
    assert result["parameters"]["init_images"] is None and result["parameters"]["mask"] is None


def test_img2img_include_init_images(api):
    encoded = to_base64(gradient_image())
    result = img2img(api, init_images=[encoded], include_init_images=True)
    assert result["parameters"]["init_images"] == [encoded]


@pytest.mark.parametrize("resize_mode", [0, 1, 2, 3])
def test_img2img_resize_modes(api, resize_mode):
    result = img2img(api, init_images=[to_base64(gradient_image(96, 48))], resize_mode=resize_mode,
                     denoising_strength=0.4)
    assert check_generation(result, 1)[0].size == (64, 64)


@pytest.mark.parametrize("inpainting_fill", [0, 1, 2, 3])
def test_img2img_inpainting_fill_keeps_unmasked_pixels(api, inpainting_fill):
    source = gradient_image()
    result = img2img(api, init_images=[to_base64(source)], mask=to_base64(centre_mask()), mask_blur=0,
                     inpainting_fill=inpainting_fill, inpaint_full_res=False, denoising_strength=1.0)
    image = check_generation(result, 1)[0].convert("RGB")
    assert image.getpixel((2, 2)) == source.getpixel((2, 2))
    assert image_params(image)["Mask blur"] == "0"


def test_img2img_inverted_mask_keeps_the_centre(api):
    source = gradient_image()
    result = img2img(api, init_images=[to_base64(source)], mask=to_base64(centre_mask()), mask_blur=0,
                     inpainting_mask_invert=1, inpaint_full_res=False, denoising_strength=1.0)
    image = check_generation(result, 1)[0].convert("RGB")
    assert image.getpixel((32, 32)) == source.getpixel((32, 32))
    assert image.getpixel((2, 2)) != source.getpixel((2, 2))


def test_img2img_inpaint_only_masked_area(api):
    result = img2img(api, mask=to_base64(centre_mask()), inpaint_full_res=True, inpaint_full_res_padding=8)
    assert image_params(check_generation(result, 1)[0])["Inpaint area"] == "Only masked"


def test_img2img_several_init_images_make_a_batch(api):
    result = img2img(api, init_images=[to_base64(gradient_image()), to_base64(gradient_image().rotate(90))],
                     batch_size=2)
    check_generation(result, 2)


def test_img2img_sampler_and_schedule(api):
    result = img2img(api, sampler_name="DPM++ 2M", scheduler="Karras", denoising_strength=0.5)
    params = image_params(check_generation(result, 1)[0])
    assert (params["Sampler"], params["Schedule type"]) == ("DPM++ 2M", "Karras")


# --- png-info and extras ----------------------------------------------------------------------------------------------

def test_png_info_round_trip(api):
    result = txt2img(api, prompt="round trip", negative_prompt="nope", seed=4321)
    answer = api.ok("POST", "png-info", {"image": result["images"][0]})
    assert answer["info"] == json.loads(result["info"])["infotexts"][0]
    assert answer["parameters"]["Prompt"] == "round trip"
    assert answer["parameters"]["Negative prompt"] == "nope"
    assert answer["parameters"]["Seed"] == "4321" and answer["parameters"]["Size-1"] == "64"
    assert answer["items"] == {}


def test_png_info_of_an_image_without_infotext(api):
    answer = api.ok("POST", "png-info", {"image": to_base64(gradient_image(), data_uri=True)})
    assert answer["info"] == "" and answer["parameters"]["Prompt"] == ""


def test_extra_single_image_scale_by(api):
    answer = api.ok("POST", "extra-single-image", {"image": to_base64(gradient_image()), "upscaler_1": "Lanczos",
                                                    "upscaling_resize": 2})
    image = from_base64(answer["image"])
    assert image.size == (128, 128)
    assert "Postprocess upscaler: Lanczos" in answer["html_info"]
    assert image.info["postprocessing"] == "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos"


def test_extra_single_image_tiny_factor_keeps_a_pixel(api):
    answer = api.ok("POST", "extra-single-image", {"image": to_base64(gradient_image()), "upscaler_1": "Lanczos",
                                                    "upscaling_resize": 0.001})
    assert from_base64(answer["image"]).size == (1, 1)


def test_extra_single_image_scale_to_with_crop(api):
    answer = api.ok("POST", "extra-single-image", {
        "image": to_base64(gradient_image()), "resize_mode": 1, "upscaling_resize_w": 100, "upscaling_resize_h": 50,
        "upscaling_crop": True, "upscaler_1": "Nearest", "upscaler_2": "Lanczos", "extras_upscaler_2_visibility": 0.5})
    assert from_base64(answer["image"]).size == (100, 50)
    assert "Postprocess upscaler 2: Lanczos" in answer["html_info"]


def test_extra_single_image_without_upscaler_is_unchanged(api):
    source = gradient_image()
    answer = api.ok("POST", "extra-single-image", {"image": to_base64(source)})
    assert from_base64(answer["image"]).convert("RGB").tobytes() == source.tobytes()


def test_extra_batch_images(api):
    answer = api.ok("POST", "extra-batch-images", {
        "imageList": [{"data": to_base64(gradient_image()), "name": "a"},
                      {"data": to_base64(gradient_image(32, 16), data_uri=True), "name": "b"}],
        "upscaler_1": "Lanczos", "upscaling_resize": 1.5})
    assert [from_base64(i).size for i in answer["images"]] == [(96, 96), (48, 24)]


# --- progress, interrupt, skip, checkpoints ----------------------------------------------------------------------------

def test_progress_when_idle(api):
    answer = api.ok("GET", "progress")
    assert answer["progress"] == 0 and answer["eta_relative"] == 0 and answer["current_image"] is None
    assert {"skipped", "interrupted", "job", "job_count", "job_timestamp", "job_no", "sampling_step",
            "sampling_steps"} <= set(answer["state"])


def test_internal_progress_of_an_unknown_task(api):
    answer = api.ok("POST", "/internal/progress", {"id_task": "task(unknown)", "id_live_preview": -1})
    assert (answer["active"], answer["queued"], answer["completed"]) == (False, False, False)


def test_skip_and_interrupt_answer_when_idle(api):
    assert api.ok("POST", "skip") is None
    assert api.ok("POST", "interrupt") == {}
    # an interrupt sent while idle must not cancel the next generation
    check_generation(txt2img(api), 1)


class Background:
    """A request running in a thread; .result() waits for its answer."""

    def __init__(self, api: ApiClient, route: str, payload: dict):
        self.answer = None
        self.thread = threading.Thread(target=self._run, args=(api, route, payload), daemon=True)
        self.thread.start()

    def _run(self, api, route, payload):
        self.answer = requests.post(api.url(route), json=payload, timeout=600)

    def result(self, timeout: float) -> requests.Response:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"no answer within {timeout} s"
        return self.answer


def wait_for(condition, timeout: float = 120, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def internal_progress(api, task_id: str) -> dict:
    return api.ok("POST", "/internal/progress", {"id_task": task_id, "id_live_preview": -1})


@contextlib.contextmanager
def interrupted_at_exit(api: ApiClient, *runs: "Background"):
    """However the test ends, its long generations do not outlive it."""
    try:
        yield
    finally:
        api.post("interrupt")
        for run in runs:
            run.thread.join(300)


def test_progress_queue_and_interrupt_during_a_long_generation(api):
    long_task, queued_task = "task(smoke-long)", "task(smoke-queued)"
    long_run = Background(api, "txt2img", {**LONG_RUN, "force_task_id": long_task})
    with interrupted_at_exit(api, long_run):
        active = wait_for(lambda: (p := internal_progress(api, long_task))["active"] and p["progress"] and p)
        assert 0 < active["progress"] < 1 and active["queued"] is False

        progress = wait_for(lambda: (p := api.ok("GET", "progress"))["state"]["sampling_step"] >= 12 and p)
        assert progress["state"]["job_count"] == LONG_RUN["n_iter"] and 0 < progress["progress"] < 1
        assert progress["eta_relative"] > 0
        assert from_base64(progress["current_image"]).size == (64, 64)
        assert api.ok("GET", "progress?skip_current_image=true")["current_image"] is None

        queued_run = Background(api, "txt2img", {**TINY, "force_task_id": queued_task})
        queued = wait_for(lambda: (p := internal_progress(api, queued_task))["queued"] and p)
        assert queued["active"] is False and queued["textinfo"].startswith("In queue")

        interrupted_at = time.monotonic()
        assert api.ok("POST", "interrupt") == {}
        answer = long_run.result(timeout=120)
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - interrupted_at < 60
        assert 1 <= len(answer.json()["images"]) < LONG_RUN["n_iter"]
        assert internal_progress(api, long_task)["completed"] is True

        queued_answer = queued_run.result(timeout=300)
        assert queued_answer.status_code == 200 and len(queued_answer.json()["images"]) == 1
        assert internal_progress(api, queued_task)["completed"] is True


def test_skip_during_a_batch_moves_to_the_next(api):
    run = Background(api, "txt2img", {**LONG_RUN, "n_iter": 2, "steps": 60, "force_task_id": "task(smoke-skip)"})
    with interrupted_at_exit(api, run):
        wait_for(lambda: api.ok("GET", "progress")["state"]["sampling_step"] >= 3)
        assert api.ok("POST", "skip") is None
        answer = run.result(timeout=300)
        assert answer.status_code == 200 and len(answer.json()["images"]) == 2


def test_unload_and_reload_checkpoint(api):
    assert api.ok("POST", "unload-checkpoint") == {}
    check_generation(txt2img(api), 1)
    assert api.ok("POST", "unload-checkpoint") == {}
    assert api.ok("POST", "reload-checkpoint") == {}
    check_generation(txt2img(api), 1)


# --- server control ---------------------------------------------------------------------------------------------------

def test_server_control_routes_need_the_flag(api):
    for route in ("server-stop", "server-restart", "server-kill"):
        assert api.post(route).status_code == 404


def test_server_stop_ends_the_server(server_factory):
    server = server_factory(["--api-server-stop"])
    client = ApiClient(server.url)
    restart = client.post("server-restart")
    assert restart.status_code == 501 and "SD_WEBUI_RESTART" in restart.json()["detail"]
    stop = client.post("server-stop")
    assert stop.status_code == 200 and stop.text == "Stopping."
    assert server.process.wait(timeout=30) == 0


def test_server_kill_ends_the_server(server_factory):
    server = server_factory(["--api-server-stop"])
    assert ApiClient(server.url).ok("POST", "server-kill") == {}
    assert server.process.wait(timeout=30) == 0
