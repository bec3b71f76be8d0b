"""processing.py on the tiny real model: infotext, txt2img hires fix, img2img and inpainting (override_settings:
test_opts_override.py)."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules import infotext_utils, processing

SMALL = {"width": 64, "height": 64, "steps": 4, "do_not_save_samples": True, "do_not_save_grid": True}


def txt2img(**kwargs) -> processing.Processed:
    args = {"prompt": "a red circle", "seed": 1234, "sampler_name": "Euler", **SMALL, **kwargs}
    return processing.process_images(processing.StableDiffusionProcessingTxt2Img(**args))


def img2img(init: Image.Image, **kwargs) -> processing.Processed:
    args = {"prompt": "a blue square", "seed": 99, "sampler_name": "Euler", "init_images": [init], **SMALL, **kwargs}
    return processing.process_images(processing.StableDiffusionProcessingImg2Img(**args))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture
def init_image() -> Image.Image:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill="red")
    return image


@pytest.fixture
def centre_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 40, 40), fill=255)
    return mask


def test_infotext_has_a1111_layout_and_parses_back(sd_model):
    result = txt2img(prompt="a (red:1.2) circle", negative_prompt="blue", cfg_scale=5)
    lines = result.info.split("\n")
    assert lines[0] == "a (red:1.2) circle"
    assert lines[1] == "Negative prompt: blue"
    assert lines[2].startswith("Steps: 4, Sampler: Euler, Schedule type: Automatic, CFG scale: 5, Seed: 1234, ")
    parsed = infotext_utils.parse_generation_parameters(result.info)
    assert parsed["Size-1"] == "64" and parsed["Size-2"] == "64"
    assert parsed["Model hash"] == sd_model.sd_model_hash
    assert parsed["Model"] == sd_model.sd_checkpoint_info.name_for_extra
    assert result.images[0].info["parameters"] == result.info


def test_info_js_has_every_api_key(sd_model):
    import json

    info = json.loads(txt2img().js())
    expected = {"prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
                "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps",
                "batch_size", "restore_faces", "face_restoration_model", "sd_model_name", "sd_model_hash",
                "sd_vae_name", "sd_vae_hash", "seed_resize_from_w", "seed_resize_from_h", "denoising_strength",
                "extra_generation_params", "index_of_first_image", "infotexts", "styles", "job_timestamp",
                "clip_skip", "is_using_inpainting_conditioning", "version"}
    assert expected <= set(info)


def test_batch_and_iterations_give_seed_plus_i_and_a_grid_first(sd_model):
    result = txt2img(batch_size=2, n_iter=2, do_not_save_grid=False)
    assert result.all_seeds == [1234, 1235, 1236, 1237]
    assert result.index_of_first_image == 1
    assert len(result.images) == 5
    assert result.images[0].size == (128, 128)
    assert [f"Seed: {s}," in t for s, t in zip(result.all_seeds, result.infotexts[1:])] == [True] * 4


def test_hires_fix_latent_and_image_upscalers_double_the_size(sd_model):
    for upscaler_name in ("Latent", "Lanczos"):
        result = txt2img(enable_hr=True, hr_scale=2, hr_upscaler=upscaler_name, hr_second_pass_steps=2,
                         denoising_strength=0.6)
        assert result.images[0].size == (128, 128)
        assert "Hires upscale: 2" in result.info and f"Hires upscaler: {upscaler_name}" in result.info
        assert "Size: 64x64" in result.info  # the first pass, as A1111 writes it


def test_img2img_strength_controls_how_far_the_image_moves(sd_model, init_image):
    weak = pixels(img2img(init_image, denoising_strength=0.2).images[0])
    strong = pixels(img2img(init_image, denoising_strength=0.9).images[0])
    source = pixels(init_image)
    assert np.abs(weak - source).mean() < np.abs(strong - source).mean()


@pytest.mark.parametrize("resize_mode", [0, 1, 2, 3])
def test_img2img_resize_modes_produce_the_requested_size(sd_model, resize_mode):
    wide = Image.new("RGB", (96, 48), "green")
    result = img2img(wide, resize_mode=resize_mode, width=64, height=32)
    assert result.images[0].size == (64, 32)


@pytest.mark.parametrize("fill", [0, 1, 2, 3])
def test_inpainting_keeps_pixels_outside_the_mask(sd_model, init_image, centre_mask, fill):
    result = img2img(init_image, mask=centre_mask, inpainting_fill=fill, mask_blur=0, inpaint_full_res=False,
                     denoising_strength=1.0)
    out = pixels(result.images[0])
    source = pixels(init_image)
    assert np.array_equal(out[:16, :], source[:16, :])
    assert not np.array_equal(out[28:36, 28:36], source[28:36, 28:36])


def test_inverted_mask_repaints_the_outside_instead(sd_model, init_image, centre_mask):
    result = img2img(init_image, mask=centre_mask, inpainting_mask_invert=1, mask_blur=0, inpaint_full_res=False,
                     denoising_strength=1.0)
    out = pixels(result.images[0])
    source = pixels(init_image)
    assert np.array_equal(out[28:36, 28:36], source[28:36, 28:36])
    assert not np.array_equal(out[:8, :8], source[:8, :8])


def test_inpaint_full_resolution_pastes_back_into_the_original(sd_model, init_image, centre_mask):
    result = img2img(init_image, mask=centre_mask, inpaint_full_res=True, inpaint_full_res_padding=4, mask_blur=0,
                     denoising_strength=1.0)
    out = pixels(result.images[0])
    assert result.images[0].size == (64, 64)
    assert np.array_equal(out[:8, :], pixels(init_image)[:8, :])
    assert "Inpaint area: Only masked" in result.info


def test_samples_are_saved_with_a1111_names(sd_model, tmp_path):
    result = txt2img(do_not_save_samples=False, outpath_samples=str(tmp_path), seed=777)
    saved = sorted(p.name for p in tmp_path.rglob("*.png"))
    assert saved == ["00000-777.png"]
    assert Image.open(next(tmp_path.rglob("*.png"))).info["parameters"] == result.info


def test_saving_does_not_hold_up_the_next_batch_and_is_done_when_the_generation_returns(sd_model, tmp_path,
                                                                                         monkeypatch):
    import threading

    from modules import images

    second_batch_sampling = threading.Event()
    real_save, real_callback = images.save_image, processing.sampling_progress_callback
    waited = []

    def slow_save(image, path, basename, seed=None, *args, **kwargs):
        if seed == 500:  # the first batch's image: written only once the second batch samples
            waited.append(second_batch_sampling.wait(timeout=30))
        return real_save(image, path, basename, seed, *args, **kwargs)

    steps_sampled = []

    def callback(step, total, latent):
        steps_sampled.append(step)
        if len(steps_sampled) > SMALL["steps"]:
            second_batch_sampling.set()
        real_callback(step, total, latent)

    monkeypatch.setattr(images, "save_image", slow_save)
    monkeypatch.setattr(processing, "sampling_progress_callback", callback)
    result = txt2img(do_not_save_samples=False, outpath_samples=str(tmp_path), seed=500, n_iter=2)
    assert waited == [True], "the second batch sampled while the first batch's image was being saved"
    saved = sorted(tmp_path.rglob("*.png"), key=lambda path: path.name)
    assert [path.name for path in saved] == ["00000-500.png", "00001-501.png"], "all written, in order, by the return"
    assert [Image.open(path).info["parameters"] for path in saved] == result.infotexts


def test_saving_names_each_file_after_its_own_batch_and_position(sd_model, tmp_path, monkeypatch):
    pattern = "[seed]-[batch_number]-[generation_number]"
    monkeypatch.setitem(processing.shared.opts.data, "samples_filename_pattern", pattern)
    txt2img(do_not_save_samples=False, outpath_samples=str(tmp_path), seed=40, n_iter=2, batch_size=2)
    assert sorted(path.name for path in tmp_path.rglob("*.png")) == [
        "00000-40-1-1.png", "00001-41-2-2.png", "00002-42-1-3.png", "00003-43-2-4.png"]


def test_tiling_makes_convolutions_circular_and_changes_the_image(sd_model):
    plain = txt2img(tiling=False).images[0]
    tiled = txt2img(tiling=True)
    assert "Tiling: True" in tiled.info
    assert not np.array_equal(pixels(plain), pixels(tiled.images[0]))
    assert txt2img(tiling=False).images[0].tobytes() == plain.tobytes()


class BatchCounting:
    """The model, with the batch sizes its VAE was asked to decode recorded; out of memory from oom_from images."""

    def __init__(self, model, oom_from=None):
        self.model, self.oom_from, self.batches = model, oom_from, []

    def decode_first_stage(self, latents):
        self.batches.append(len(latents))
        if self.oom_from is not None and len(latents) >= self.oom_from:
            raise torch.OutOfMemoryError("CUDA out of memory (a test's)")
        return self.model.decode_first_stage(latents)


def test_the_cpu_decodes_one_image_at_a_time_and_a_gpu_all_at_once_with_the_same_images(sd_model):
    latents = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    one_by_one, at_once = BatchCounting(sd_model), BatchCounting(sd_model)
    separately = processing.decode_latent_batch(one_by_one, latents)
    together = processing.decode_latent_batch(at_once, latents, at_once=True)
    assert one_by_one.batches == [1, 1, 1] and at_once.batches == [3]
    side = 8 * sd_model.vae_scale_factor
    assert separately.shape == together.shape == (3, 3, side, side)
    assert (separately - together).abs().max() < 1e-4


def test_decoding_at_once_out_of_memory_falls_back_to_one_at_a_time_and_remembers(sd_model, caplog):
    latents = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    model = BatchCounting(sd_model, oom_from=3)
    expected = processing.decode_latent_batch(sd_model, latents)
    with caplog.at_level("WARNING"):
        first = processing.decode_latent_batch(model, latents, at_once=True)
    assert model.batches == [3, 1, 1, 1] and "ran out of memory" in caplog.text
    assert torch.equal(first, expected)
    model.batches.clear()
    processing.decode_latent_batch(model, latents, at_once=True)
    processing.decode_latent_batch(model, latents[:2], at_once=True)
    assert model.batches == [1, 1, 1, 2], "not tried at once again at that size; a smaller batch still is"
