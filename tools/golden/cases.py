"""The golden request list. Loaded by file path (see capture.py), so it imports nothing from modules/ or tools/.

Append new requests at the end; a request whose set-up needs the webui (a LoRA file in the data dir, a script on
p.scripts / p.script_args) does it in `prepare(p, data_dir)`, which the capture calls right before process_images.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

DEMO = "serena-demo-shapes.safetensors"
TINY_INPAINT = "golden-sd15-inpaint.safetensors"  # made by tools.make_tiny_checkpoint, see tools/golden/run.py
TINY_INPAINT_ARCH = "sd15-inpaint"
TINY_INPAINT_SEED = 0
TINY_LORA = "golden-tiny.safetensors"  # an sd15 LoRA: its layers are the tiny sd15-inpaint checkpoint's too
TINY_LORA_ARCH = "sd15"
TINY_LORA_SEED = 0
GOLDEN_VAE = "golden-demo.vae.safetensors"  # the demo model's VAE with a shifted output bias, see write_golden_vae

BASE = {"prompt": "a red circle on a black background", "seed": 1, "steps": 10, "cfg_scale": 7.0,
        "width": 32, "height": 32, "sampler_name": "Euler a"}


@dataclass(frozen=True)
class Case:
    name: str
    mode: str  # "txt2img" or "img2img"
    params: dict
    checkpoint: str = DEMO
    init_image: str | None = None  # a key of INPUT_IMAGES
    mask: str | None = None  # a key of INPUT_IMAGES
    options: dict = field(default_factory=dict)  # set in shared.opts for this request, as the Settings tab would
    prepare: Callable | None = None  # prepare(p, data_dir), right before process_images
    script: tuple | None = None  # (title, args): run through the tab's script runner as the API does
    extensions: bool = False  # load extensions and scripts first (the Lora extension, the built-in scripts)


def _shape_on_background(shape: str, colour: str, background: str) -> Image.Image:
    image = Image.new("RGB", (32, 32), background)
    draw = ImageDraw.Draw(image)
    box = (8, 8, 24, 24)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    return image


def _centre_mask() -> Image.Image:
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((10, 10, 22, 22), fill=255)
    return mask


INPUT_IMAGES = {
    "red_circle_black": lambda: _shape_on_background("circle", (255, 0, 0), (0, 0, 0)),
    "blue_square_white": lambda: _shape_on_background("square", (0, 0, 255), (255, 255, 255)),
    "centre_mask": _centre_mask,
}


def txt2img(name: str, options: dict | None = None, **params) -> Case:
    return Case(name, "txt2img", {**BASE, **params}, options=options or {})


def img2img(name: str, init_image: str = "red_circle_black", mask: str | None = None, checkpoint: str = DEMO,
            **params) -> Case:
    params = {**BASE, "prompt": "a green square on a white background", "seed": 3, "denoising_strength": 0.75,
              **params}
    return Case(name, "img2img", params, checkpoint=checkpoint, init_image=init_image, mask=mask)


def save_checkpoint_vae(checkpoint_file: str, vae_file: str, output_bias_shift: float = 0.0) -> str:
    """Writes the VAE of a single-file checkpoint as a VAE file, its decoder output bias shifted by the given amount."""
    import safetensors.torch

    checkpoint = safetensors.torch.load_file(checkpoint_file)
    vae = {key: tensor for key, tensor in checkpoint.items() if key.startswith("first_stage_model.")}
    vae["first_stage_model.decoder.conv_out.bias"] = vae["first_stage_model.decoder.conv_out.bias"] + output_bias_shift
    os.makedirs(os.path.dirname(vae_file), exist_ok=True)
    safetensors.torch.save_file(vae, vae_file)
    return vae_file


def write_golden_vae(p, data_dir: str) -> None:
    """models/VAE/GOLDEN_VAE: the demo checkpoint's VAE with its decoder output shifted, so images show it is on."""
    save_checkpoint_vae(os.path.join("models", "Stable-diffusion", DEMO),
                        os.path.join(data_dir, "models", "VAE", GOLDEN_VAE), output_bias_shift=0.25)


GOLDEN_STYLES = [("golden-wrap", "a {prompt}, flat colours", "blurry, {prompt}"), ("golden-tail", "white background", "noise")]
GLOBAL_RANDOM_STATE = 20261122


def install_golden_styles(p, data_dir: str) -> None:
    """A styles file in the data dir as the webui's style database (one style wraps {prompt}, one appends)."""
    import csv

    from modules import shared, styles

    path = os.path.join(data_dir, "golden-styles.csv")
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "prompt", "negative_prompt"])
        writer.writerows(GOLDEN_STYLES)
    shared.prompt_styles = styles.StyleDatabase(path)


def seed_global_random(p, data_dir: str) -> None:
    """Python's global random, which -1 seeds are drawn from, in a fixed state: the drawn seeds are then golden."""
    import random

    random.seed(GLOBAL_RANDOM_STATE)


CASES = [
    txt2img("euler_a"),
    txt2img("dpmpp_2m_karras", sampler_name="DPM++ 2M", scheduler="Karras", prompt="a blue square on a white background"),
    txt2img("euler_exponential", sampler_name="Euler", scheduler="Exponential", seed=2),
    txt2img("ddim_automatic", sampler_name="DDIM", prompt="a yellow triangle on a black background"),
    txt2img("dpmpp_sde_karras", sampler_name="DPM++ SDE", steps=6, seed=4),
    txt2img("unipc_sgm_uniform", sampler_name="UniPC", scheduler="SGM Uniform", seed=5),
    txt2img("heun_beta", sampler_name="Heun", scheduler="Beta", steps=6, prompt="an orange circle"),
    txt2img("default_sampler_64", sampler_name=None, width=64, height=64, prompt="a purple square on a black background"),
    txt2img("hires_latent", enable_hr=True, hr_scale=2, hr_upscaler="Latent", hr_second_pass_steps=5,
            denoising_strength=0.5),
    txt2img("hires_lanczos", enable_hr=True, hr_scale=2, hr_upscaler="Lanczos", hr_second_pass_steps=4,
            denoising_strength=0.4, sampler_name="DPM++ 2M", prompt="a green triangle on a white background"),
    txt2img("variation_seed", subseed=77, subseed_strength=0.3),
    txt2img("seed_resize", seed_resize_from_w=48, seed_resize_from_h=48),
    txt2img("prompt_editing", prompt="a [red:blue:0.5] circle on a black background", sampler_name="Euler"),
    txt2img("alternation", prompt="a [red|green] square on a white background", sampler_name="Euler"),
    txt2img("emphasis", prompt="a (yellow:1.3) circle on a (black:0.8) background"),
    txt2img("break", prompt="a purple triangle BREAK on a white background"),
    txt2img("clip_skip", options={"CLIP_stop_at_last_layers": 2}, prompt="a green circle on a black background"),
    txt2img("negative_prompt", prompt="a circle", negative_prompt="red, black background", seed=6),
    txt2img("batch2_iter2", batch_size=2, n_iter=2, prompt="a blue triangle on a black background"),
    txt2img("override_settings", override_settings={"emphasis": "No norm", "add_model_name_to_info": False},
            prompt="a (red:1.4) square on a white background"),
    img2img("img2img_strength_030", denoising_strength=0.3),
    img2img("img2img_strength_075", denoising_strength=0.75),
    img2img("inpaint_fill_0", mask="centre_mask", inpainting_fill=0, inpaint_full_res=False),
    img2img("inpaint_fill_1", mask="centre_mask", inpainting_fill=1, inpaint_full_res=True,
            inpaint_full_res_padding=4),
    img2img("inpaint_fill_2", mask="centre_mask", inpainting_fill=2, inpaint_full_res=False, mask_blur=2),
    img2img("inpaint_fill_3", mask="centre_mask", inpainting_fill=3, inpaint_full_res=False,
            inpainting_mask_invert=1),
    img2img("inpaint_model", init_image="blue_square_white", mask="centre_mask", checkpoint=TINY_INPAINT,
            inpainting_fill=1, inpaint_full_res=False, steps=4, prompt="a red circle"),
    Case("lora", "txt2img", {**BASE, "prompt": "a red circle <lora:golden-tiny:0.8>", "steps": 4},
         checkpoint=TINY_INPAINT, extensions=True),
    Case("xyz_seed_steps", "txt2img", {**BASE, "steps": 3}, extensions=True,
         script=("X/Y/Z plot", ["Seed", "1, 2", [], "Steps", "3, 5", [], "Nothing", "", [], True, True, False,
                                False, False, False, False, 0, False])),
    Case("override_checkpoint", "txt2img",
         {**BASE, "steps": 4, "override_settings": {"sd_model_checkpoint": TINY_INPAINT}}),
    Case("override_vae", "txt2img", {**BASE, "override_settings": {"sd_vae": GOLDEN_VAE}}, prepare=write_golden_vae),
    Case("random_seeds", "txt2img", {**BASE, "steps": 4, "seed": -1, "subseed": -1, "subseed_strength": 0.3,
                                     "batch_size": 2}, prepare=seed_global_random),
    Case("styles", "txt2img", {**BASE, "steps": 4, "prompt": "red circle", "negative_prompt": "green",
                               "styles": ["golden-wrap", "golden-tail"], "batch_size": 2},
         prepare=install_golden_styles),
    Case("styles_hires", "txt2img", {**BASE, "steps": 4, "prompt": "red circle", "styles": ["golden-wrap"],
                                     "enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent",
                                     "hr_second_pass_steps": 2, "denoising_strength": 0.5,
                                     "hr_prompt": "blue square", "hr_negative_prompt": "red"},
         prepare=install_golden_styles),
]
