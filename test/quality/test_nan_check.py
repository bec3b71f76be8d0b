"""fp16 safety through process_images: a 16-bit VAE whose decode overflows is reverted to 32-bit floats and decodes
again (the image is not black, the console says so), unless auto_vae_precision is off; a UNet that samples NaNs is an
error naming the cure; --disable-nan-check lets both through; an SDXL VAE whose config asks for it decodes in fp32.
All on the CPU, where 16-bit convolutions run too."""

import numpy as np
import pytest
import torch

from modules import nan_check, processing, sd_models, shared
from modules.sd_model_diffusers import DiffusersStableDiffusion, config_dir_for
from modules.sd_models_detect import detect_architecture
from tools.make_tiny_checkpoint import make_tiny_checkpoint

OVERFLOW_GAIN = 40000.0
"""a gain fp16 holds exactly (max 65504) that makes the VAE's first activations overflow it"""


def build(path: str, vae_dtype: torch.dtype) -> DiffusersStableDiffusion:
    state_dict, metadata = sd_models.read_state_dict(path)
    architecture = detect_architecture(state_dict, metadata, path)
    return DiffusersStableDiffusion(state_dict, architecture, config_dir_for(path, architecture), torch.device("cpu"),
                                    torch.float32, vae_dtype)


def overflowing_in_fp16(model: DiffusersStableDiffusion) -> DiffusersStableDiffusion:
    """The VAE's post_quant_conv multiplies the latents by OVERFLOW_GAIN: past fp16's range (inf, then NaN), while in
    fp32 the decoder's group norms take the scale out again and the image is an ordinary one."""
    conv = model.vae.post_quant_conv
    with torch.no_grad():
        conv.weight.copy_(OVERFLOW_GAIN * torch.eye(conv.weight.shape[0]).view_as(conv.weight))
        conv.bias.zero_()
    return model


@pytest.fixture
def fp16_vae_model(sd_model, tiny_checkpoint, monkeypatch):
    """The tiny SD1 checkpoint with its VAE in fp16 and overflowing there, as shared.sd_model."""
    model = overflowing_in_fp16(build(tiny_checkpoint, torch.float16))
    for name in ("sd_checkpoint_info", "sd_model_checkpoint"):
        setattr(model, name, getattr(sd_model, name))
    monkeypatch.setattr(shared, "sd_model", model)
    return model


def generate(**kwargs) -> processing.Processed:
    return processing.process_images(processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle", seed=5, steps=2, width=64, height=64, do_not_save_samples=True,
        do_not_save_grid=True, **kwargs))


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_the_overflowing_vae_decodes_to_nans_in_fp16_and_to_an_image_in_fp32(fp16_vae_model):
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    assert nan_check.has_non_finite(fp16_vae_model.decode_first_stage(latents))
    fp16_vae_model.vae.to(torch.float32)
    assert not nan_check.has_non_finite(fp16_vae_model.decode_first_stage(latents))


def test_a_vae_that_overflows_in_fp16_is_retried_in_fp32_and_the_image_is_not_black(fp16_vae_model, capsys):
    result = generate(batch_size=2)
    assert "Web UI will now convert VAE into 32-bit float and retry." in capsys.readouterr().out
    assert fp16_vae_model.vae.dtype == torch.float32 and fp16_vae_model.base_vae.dtype == torch.float32
    for image in result.images:
        assert pixels(image).std() > 5, "an image, not a black (or flat) square"
    fp32_model = overflowing_in_fp16(build(sd_models.select_checkpoint().filename, torch.float32))
    for name in ("sd_checkpoint_info", "sd_model_checkpoint"):
        setattr(fp32_model, name, getattr(fp16_vae_model, name))
    shared.sd_model = fp32_model
    expected = generate(batch_size=2)
    for image, reference in zip(result.images, expected.images):
        assert np.abs(pixels(image) - pixels(reference)).max() <= 2, "the same image the fp32 VAE decodes"


def test_without_auto_vae_precision_the_nans_are_an_error_naming_the_cure(fp16_vae_model):
    with pytest.raises(nan_check.NansException, match="produced in VAE.*--no-half-vae.*--disable-nan-check"):
        generate(override_settings={"auto_vae_precision": False})
    assert fp16_vae_model.vae.dtype == torch.float16


def test_disable_nan_check_lets_the_black_image_through(fp16_vae_model, monkeypatch):
    monkeypatch.setattr(shared.cmd_opts, "disable_nan_check", True)
    result = generate()
    assert pixels(result.images[0]).max() == 0, "NaNs become a black square, as in A1111 without the check"
    assert fp16_vae_model.vae.dtype == torch.float16


def test_a_unet_that_samples_nans_is_an_error_naming_the_cure(sd_model, monkeypatch):
    bias = sd_model.unet.conv_out.bias  # changed in place and put back (monkeypatch cannot undo a module's parameter)
    saved = bias.detach().clone()
    try:
        with torch.no_grad():
            bias.fill_(float("nan"))
        with pytest.raises(nan_check.NansException, match="produced in Unet.*--disable-nan-check"):
            generate()
        monkeypatch.setattr(shared.cmd_opts, "disable_nan_check", True)
        assert len(generate().images) == 1
    finally:
        with torch.no_grad():
            bias.copy_(saved)


def test_an_sdxl_vae_whose_config_forces_upcast_decodes_in_fp32(tmp_path):
    path = make_tiny_checkpoint("sdxl-base", str(tmp_path / "tiny-sdxl.safetensors"), seed=1)
    model = build(path, torch.float16)
    assert model.vae.config.force_upcast and model.vae.dtype == torch.float32
    sd15 = build(make_tiny_checkpoint("sd15", str(tmp_path / "tiny-sd15.safetensors"), seed=1), torch.float16)
    assert sd15.vae.dtype == torch.float16, "SD1's pipeline decodes in the VAE's own dtype, as diffusers' does"
