"""What only a CUDA device can show: a 16-bit generation on the GPU draws the image the CPU draws in fp32 (within
fp16 noise), --opt-compile's CUDA graphs and --opt-channelslast draw the default image, and --medvram / --lowvram keep the parts in RAM between
calls and draw the image of the whole model on the GPU (img2img and randn_source CPU included). Skipped, with the
reason, where there is none."""

import os

import numpy as np
import pytest
import torch

from modules import devices, processing, sd_models, shared

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none")
SMALL = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 4, "seed": 3, "sampler_name": "DPM++ 2M",
         "do_not_save_samples": True, "do_not_save_grid": True}


LONG_PROMPT = ", ".join(["a red circle on a blue square"] * 12)  # over 75 tokens: cond and uncond in two UNet calls


def generate(**overrides) -> np.ndarray:
    result = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**{**SMALL, **overrides}))
    return np.asarray(result.images[0], dtype=np.int16)


def within_fp16_noise(image: np.ndarray, reference: np.ndarray) -> bool:
    """Other kernels (fused, channels-last, graphs) round fp16 differently: the same image, a level off on average."""
    return np.abs(image - reference).mean() < 1


@pytest.fixture
def on_gpu(sd_model, tiny_checkpoint, monkeypatch):
    """The tiny checkpoint loaded on the GPU in fp16 (as devices.init chooses there); the CPU model back after."""
    info = sd_models.get_closet_checkpoint_match(os.path.basename(tiny_checkpoint))
    for name in ("device", "dtype", "dtype_unet", "dtype_vae", "unet_needs_upcast"):
        monkeypatch.setattr(devices, name, getattr(devices, name))
    monkeypatch.setattr(shared, "device", shared.device)
    shared.device = devices.init(argparse_flags())
    yield info
    monkeypatch.undo()
    sd_models.load_model(info)


def argparse_flags():
    return type(shared.cmd_opts)(**{**vars(shared.cmd_opts), "use_cpu": []})


def test_a_16_bit_gpu_generation_draws_the_cpu_image(on_gpu):
    cpu_image = generate()
    model = sd_models.load_model(on_gpu)
    assert model.device.type == "cuda" and model.unet.dtype == torch.float16
    assert np.abs(generate() - cpu_image).mean() < 3


def test_cuda_graphs_draw_the_eager_image(on_gpu, monkeypatch):
    sd_models.load_model(on_gpu)
    eager, eager_long = generate(), generate(prompt=LONG_PROMPT)
    monkeypatch.setattr(shared.cmd_opts, "opt_compile", True)
    model = sd_models.load_model(on_gpu)
    assert model.unet_runner.mode == "reduce-overhead"
    assert within_fp16_noise(generate(), eager)
    assert within_fp16_noise(generate(), eager), "replayed"
    assert within_fp16_noise(generate(prompt=LONG_PROMPT), eager_long), "cond and uncond from two replays"


def test_channels_last_on_the_gpu_draws_the_default_image(on_gpu, monkeypatch):
    sd_models.load_model(on_gpu)
    default = generate()
    monkeypatch.setattr(shared.cmd_opts, "opt_channelslast", True)
    model = sd_models.load_model(on_gpu)
    assert model.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert within_fp16_noise(generate(), default)


@pytest.mark.parametrize("flag", ["medvram", "lowvram"])
def test_an_offloaded_model_keeps_its_parts_in_ram_and_draws_the_whole_models_image(on_gpu, monkeypatch, flag):
    sd_models.load_model(on_gpu)
    whole = generate()
    monkeypatch.setattr(shared.cmd_opts, flag, True)
    model = sd_models.load_model(on_gpu)
    assert model.device.type == "cuda"
    assert np.abs(generate() - whole).max() <= 2
    assert next(model.text_encoder.parameters()).device.type == "cpu", "sent back once the UNet ran"
    assert next(model.unet.up_blocks[0].parameters()).device.type == "cpu", "sent back once the VAE ran"
    assert next(model.vae.parameters()).device.type == "cuda", "the last part called stays until the next"
    monkeypatch.setitem(shared.opts.data, "randn_source", "CPU")
    init = processing.process_images(processing.StableDiffusionProcessingTxt2Img(**SMALL)).images[0]
    img2img = processing.process_images(processing.StableDiffusionProcessingImg2Img(
        init_images=[init], denoising_strength=0.5, **SMALL))
    assert img2img.images[0].size == init.size
