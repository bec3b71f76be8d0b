"""--medvram, --medvram-sdxl, --lowvram (modules/lowvram.py) on the CPU: which parts each flag makes, that each part
is brought to the device when called and the one there before sent back (recorded moves: here both are the CPU), that
the image is the one the whole model draws, and that the live preview is then decoded by the sampler. Where the
parts really are between calls, and the memory that saves, is test_cuda.py's (CUDA only)."""

import argparse

import pytest
import torch
from PIL import Image

from modules import devices, lowvram, processing, sd_models, sd_vae, shared
from modules.runtime import job_state
from tools.golden.cases import save_checkpoint_vae


def flags(**set_flags) -> argparse.Namespace:
    return argparse.Namespace(**{"medvram": False, "medvram_sdxl": False, "lowvram": False, **set_flags})


@pytest.mark.parametrize(("set_flags", "sd1", "sdxl"), [
    ({}, None, None),
    ({"medvram": True}, "medvram", "medvram"),
    ({"medvram_sdxl": True}, None, "medvram"),
    ({"lowvram": True}, "lowvram", "lowvram"),
    ({"lowvram": True, "medvram": True}, "lowvram", "lowvram"),
])
def test_the_flags_choose_the_offload(set_flags, sd1, sdxl):
    assert lowvram.mode(flags(**set_flags), is_sdxl=False) == sd1
    assert lowvram.mode(flags(**set_flags), is_sdxl=True) == sdxl


def txt2img(**kwargs) -> processing.Processed:
    return processing.process_images(processing.StableDiffusionProcessingTxt2Img(**{
        "prompt": "a red circle", "seed": 21, "steps": 3, "width": 64, "height": 64, "sampler_name": "Euler",
        "do_not_save_samples": True, "do_not_save_grid": True, **kwargs}))


@pytest.fixture
def offloaded(sd_model, monkeypatch):
    """offloaded(flag): the tiny SD1 model loaded again with that flag on, and the list of the parts brought to the
    device, in order (each time one replaces another there); the model is loaded whole again afterwards."""
    brought = []
    real_bring = lowvram.Offload.bring

    def recorded(self, part, args, kwargs):
        if self.part_on_device is not part:
            brought.append(part)
        return real_bring(self, part, args, kwargs)

    monkeypatch.setattr(lowvram.Offload, "bring", recorded)

    def load(flag: str):
        monkeypatch.setattr(shared.cmd_opts, flag, True)
        model = sd_models.load_model(sd_model.sd_checkpoint_info)
        brought.clear()
        return model, brought

    yield load
    monkeypatch.setattr(shared.cmd_opts, "medvram", False)
    monkeypatch.setattr(shared.cmd_opts, "lowvram", False)
    sd_models.unload_model_weights()


def test_medvram_brings_each_part_when_called_one_at_a_time_and_draws_the_same_image(sd_model, offloaded):
    whole = txt2img().images[0]
    model, brought = offloaded("medvram")
    assert model.lowvram and model.device == devices.device
    image = txt2img().images[0]
    assert image.tobytes() == whole.tobytes()
    assert isinstance(brought[0], torch.nn.ModuleList) and list(brought[0]) == [model.text_encoder]
    assert brought[1:] == [model.unet, model.vae], "the text encoders, then the UNet for every step, then the VAE"
    assert model.offload.part_on_device is model.vae


def test_lowvram_makes_the_unets_blocks_parts_of_their_own(sd_model, offloaded):
    whole = txt2img().images[0]
    model, brought = offloaded("lowvram")
    image = txt2img().images[0]
    assert image.tobytes() == whole.tobytes()
    unet = model.unet
    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    assert isinstance(brought[0], torch.nn.ModuleList) and list(brought[0]) == [model.text_encoder]
    assert brought[1:] == 3 * blocks + [model.vae], "each block in its turn, at each of the 3 steps; then the VAE"


def test_a_vae_loaded_in_place_of_the_checkpoints_is_a_part_too(sd_model, offloaded, tiny_arch_checkpoints, tmp_path):
    model, brought = offloaded("medvram")
    vae_file = save_checkpoint_vae(tiny_arch_checkpoints["sd15"], str(tmp_path / "other.vae.safetensors"))
    sd_vae.reload_vae_weights(model, vae_file=vae_file)
    try:
        assert model.vae is not model.base_vae
        model.decode_first_stage(torch.zeros(1, 4, 8, 8))
        assert brought == [model.vae]
    finally:
        sd_vae.reload_vae_weights(model, vae_file=None)


def test_with_an_offloaded_model_the_sampler_decodes_the_preview_and_requests_only_read_it(offloaded, monkeypatch):
    offloaded("medvram")
    monkeypatch.setitem(shared.opts.data, "live_previews_enable", True)
    monkeypatch.setitem(shared.opts.data, "show_progress_every_n_steps", 2)
    decoded_at, read_at = [], []

    def decoder(latent, options):
        decoded_at.append(shared.state.sampling_step)
        return Image.new("RGB", (8, 8))

    real_callback = processing.sampling_progress_callback

    def callback(step, total, latent):
        real_callback(step, total, latent)
        state = job_state.running("task(offloaded)")
        state.set_current_image()  # a progress request
        read_at.append(step)

    monkeypatch.setattr(processing, "sampling_progress_callback", callback)
    with job_state.job("task(offloaded)", "txt2img", live_options=shared.opts, preview_decoder=decoder):
        txt2img(steps=4)
    assert read_at == [0, 1, 2, 3] and decoded_at == [2, 4], "at the preview cadence, from the sampler alone"


def test_opt_compile_is_not_used_with_an_offloaded_model(offloaded, monkeypatch, capsys):
    monkeypatch.setattr(shared.cmd_opts, "opt_compile", True)
    model, _ = offloaded("medvram")
    assert model.unet_runner is None
    assert "--opt-compile is not used with --medvram: the UNet runs uncompiled" in capsys.readouterr().out


class Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, extra=None):
        return self.linear(x) * extra["scale"]


def test_a_part_runs_on_the_device_with_what_it_was_called_with():
    """The meta device stands in for a GPU: the part and its tensor arguments, nested ones too, are moved there."""
    offload = lowvram.Offload(torch.device("meta"))
    part = Scaled()
    offload.add_part(part)
    assert next(part.parameters()).device == devices.cpu, "in RAM until called"
    out = part(torch.ones(2, 4), extra={"scale": torch.tensor(2.0)})
    assert out.device.type == "meta" and next(part.parameters()).device.type == "meta"
    assert offload.part_on_device is part


def test_a_model_let_go_sends_its_part_back_to_ram(offloaded):
    model, _ = offloaded("medvram")
    txt2img()
    assert model.offload.part_on_device is model.vae
    sd_models.unload_model_weights()  # as a switch to another checkpoint (a refiner) does first
    assert model.offload.part_on_device is None


def test_a_refiner_that_is_offloaded_has_its_preview_decoded_by_the_sampler(sd_model, tiny_arch_checkpoints,
                                                                           monkeypatch):
    """--medvram-sdxl, an SD1 base refined by an SDXL checkpoint: the base is whole, the refiner offloaded."""
    monkeypatch.setattr(shared.cmd_opts, "medvram_sdxl", True)
    sdxl = sd_models.CheckpointInfo(tiny_arch_checkpoints["sdxl-base"])
    sdxl.register()
    seen = []
    real_callback = processing.sampling_progress_callback

    def callback(step, total, latent):
        seen.append((shared.sd_model.is_sdxl, shared.state.previews_from_sampler))
        real_callback(step, total, latent)

    monkeypatch.setattr(processing, "sampling_progress_callback", callback)
    try:
        txt2img(steps=4, refiner_checkpoint=sdxl.title, refiner_switch_at=0.5)
    finally:
        sd_models.list_models()
        sd_models.unload_model_weights()
    assert seen[0] == (False, False) and seen[-1] == (True, True)

