"""--no-half, --no-half-vae, --precision, --upcast-sampling: the dtypes they choose (on a CUDA device, decided on the
CPU) and a 16-bit model sampled in fp32 through process_images (16-bit convolutions run on the CPU too)."""

import argparse
import contextlib

import numpy as np
import pytest
import torch

from modules import devices, processing, shared
from test.quality.test_nan_check import build

CUDA = torch.device("cuda")


def flags(**set_flags) -> argparse.Namespace:
    values = {"no_half": False, "no_half_vae": False, "precision": "autocast", "upcast_sampling": False,
              "use_cpu": []}
    return argparse.Namespace(**{**values, **set_flags})


@pytest.mark.parametrize(("set_flags", "unet", "vae"), [
    ({}, torch.float16, torch.float16),
    ({"no_half": True}, torch.float32, torch.float32),
    ({"no_half_vae": True}, torch.float16, torch.float32),
    ({"precision": "full"}, torch.float32, torch.float32),
    ({"upcast_sampling": True}, torch.float16, torch.float16),
])
def test_the_flags_choose_the_dtypes_on_a_gpu(set_flags, unet, vae):
    assert devices.choose_dtype(CUDA, flags(**set_flags)) == unet
    assert devices.choose_dtype(CUDA, flags(**set_flags), for_vae=True) == vae
    assert devices.choose_dtype(devices.cpu, flags(**set_flags)) == torch.float32, "the CPU computes in fp32"


@pytest.fixture
def gpu_devices(monkeypatch):
    """devices.init as on a CUDA machine, the module's globals put back afterwards."""
    for name in ("device", "dtype", "dtype_unet", "dtype_vae", "unet_needs_upcast"):
        monkeypatch.setattr(devices, name, getattr(devices, name))
    monkeypatch.setattr(devices, "get_optimal_device_name", lambda: "cuda")


@pytest.mark.parametrize(("set_flags", "upcast"), [({"upcast_sampling": True}, True), ({}, False),
                                                   ({"upcast_sampling": True, "no_half": True}, False)])
def test_upcast_sampling_turns_autocast_off_over_a_16_bit_unet_only(gpu_devices, set_flags, upcast):
    assert devices.init(flags(**set_flags)) == CUDA
    assert devices.unet_needs_upcast is upcast
    assert isinstance(devices.autocast(), contextlib.nullcontext) is (upcast or devices.dtype == torch.float32)


def test_a_16_bit_model_samples_in_fp32_through_process_images(sd_model, tiny_checkpoint, monkeypatch):
    half = build(tiny_checkpoint, torch.float16)
    for module in (half.unet, half.text_encoder):
        module.to(torch.float16)
    assert half.unet.dtype == torch.float16 and half.vae.dtype == torch.float16
    for name in ("sd_checkpoint_info", "sd_model_checkpoint"):
        setattr(half, name, getattr(sd_model, name))

    def generate():
        return processing.process_images(processing.StableDiffusionProcessingTxt2Img(
            prompt="a red circle", seed=11, steps=3, width=64, height=64, sampler_name="Euler",
            do_not_save_samples=True, do_not_save_grid=True))

    full = np.asarray(generate().images[0], dtype=np.int16)
    monkeypatch.setattr(shared, "sd_model", half)
    halved = np.asarray(generate().images[0], dtype=np.int16)
    assert np.abs(full - halved).mean() < 3, "the same image within fp16 noise"


@pytest.mark.parametrize(("file_bytes", "free_bytes", "expected"), [(2 * 2**30, 10 * 2**30, "cuda"),
                                                                    (6 * 2**30, 10 * 2**30, "cpu")])
def test_a_checkpoint_is_read_straight_onto_the_gpu_when_it_fits_twice(gpu_devices, file_bytes, free_bytes, expected):
    devices.init(flags())
    assert devices.state_dict_device(file_bytes, free_bytes).type == expected


def test_on_the_cpu_a_checkpoint_is_read_to_the_cpu():
    assert devices.state_dict_device(1, 2**40) == devices.cpu


def test_the_memory_flags_are_not_named_as_changing_nothing(capsys):
    from modules import cmd_args, flag_effects

    given = cmd_args.parser.parse_args(["--medvram", "--medvram-sdxl", "--lowvram"])
    assert flag_effects.startup_line(cmd_args.parser, given) is None


def test_device_id_picks_that_cuda_device(gpu_devices):
    assert devices.init(flags(device_id=1)) == torch.device("cuda:1")
    assert devices.get_device_for("sd", flags(device_id=1, use_cpu=["all"])) == devices.cpu


def test_under_autocast_the_unet_answers_in_the_latents_dtype_and_the_vae_computes_in_its_own(sd_model):
    """The sampling's autocast (CPU bfloat16 standing in for CUDA fp16): the sampler's latents stay in their dtype,
    and the VAE (fp32 where it must be: force_upcast, --no-half-vae, the retry) is not cast down by it, as A1111's
    without_autocast; hires fix and img2img run the VAE inside that autocast."""
    latents = torch.randn(2, sd_model.latent_channels, 8, 8, generator=torch.Generator().manual_seed(5))
    cond = sd_model.get_learned_conditioning(["a red circle", ""])
    with torch.no_grad():
        decoded = sd_model.decode_first_stage(latents[:1])
        encoded = sd_model.encode_first_stage(decoded)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            prediction = sd_model.apply_model(latents, torch.tensor(500), cond)
            decoded_under_autocast = sd_model.decode_first_stage(latents[:1])
            encoded_under_autocast = sd_model.encode_first_stage(decoded)
    assert prediction.dtype == torch.float32
    assert torch.equal(decoded_under_autocast, decoded) and torch.equal(encoded_under_autocast, encoded)


def test_the_unet_and_vae_are_built_where_their_weights_were_read(tiny_checkpoint):
    """A checkpoint read straight onto the GPU builds its UNet and VAE there, not through the CPU (diffusers' default
    for a state dict); the meta device stands in for the GPU (a copy from it to the CPU would raise)."""
    from modules import sd_model_diffusers, sd_models

    state_dict, metadata = sd_models.read_state_dict(tiny_checkpoint)
    config_dir = sd_model_diffusers.config_dir_for(tiny_checkpoint, sd_models.detect_architecture(
        state_dict, metadata, tiny_checkpoint), metadata)
    on_meta = {key: value.to("meta") for key, value in state_dict.items()}
    unet = sd_model_diffusers.load_unet(on_meta, config_dir, torch.float32)
    vae = sd_model_diffusers.load_vae(on_meta, config_dir, torch.float32)
    assert {p.device.type for p in (*unet.parameters(), *vae.parameters())} == {"meta"}
    assert sd_model_diffusers.weights_device(state_dict) == devices.cpu


def test_with_ray_the_server_and_workers_given_no_gpu_compute_on_the_cpu_and_the_others_on_their_gpu(gpu_devices):
    """Ray leaves a machine's GPUs visible to a worker it gave none; the server runs no job with --ray-address."""
    from modules import cmd_args, initialize
    from modules.workers import engine_flags

    parser = cmd_args.parser
    server = parser.parse_args(["--ray-address", "local", "--no-half-vae"])
    assert devices.get_device_for("sd", initialize.this_process_engine(server)) == devices.cpu
    assert server.use_cpu == [], "the server's own flags, which its workers start with, are left as they are"
    worker_flags = engine_flags.for_worker(parser, server)
    without_gpu = parser.parse_args(engine_flags.for_ray_worker(worker_flags, 0))
    with_gpu = parser.parse_args(engine_flags.for_ray_worker(worker_flags, 0.5))
    assert devices.get_device_for("sd", without_gpu) == devices.cpu
    assert devices.get_device_for("sd", with_gpu) == CUDA and with_gpu.no_half_vae
    assert devices.get_device_for("sd", initialize.this_process_engine(parser.parse_args([]))) == CUDA
