import os
import sys

import pytest
import safetensors
import safetensors.torch
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from tools import make_tiny_checkpoint as tiny
from tools.tiny_configs import ARCH_FAMILIES, CONFIG_FILES

ARCHS = list(ARCH_FAMILIES)

EXPECTED_PREFIXES = {
    "sd1": [
        "model.diffusion_model.",
        "first_stage_model.",
        "cond_stage_model.transformer.text_model.",
        "alphas_cumprod",
    ],
    "sd2": ["model.diffusion_model.", "first_stage_model.", "cond_stage_model.model.", "alphas_cumprod"],
    "sdxl": [
        "model.diffusion_model.",
        "first_stage_model.",
        "conditioner.embedders.0.transformer.text_model.",
        "conditioner.embedders.1.model.",
    ],
    "sdxl-refiner": ["model.diffusion_model.", "first_stage_model.", "conditioner.embedders.0.model."],
}
FAMILY_MARKERS = {
    "sdxl": "conditioner.embedders.1.model.ln_final.weight",
    "sdxl-refiner": "conditioner.embedders.0.model.ln_final.weight",
    "sd2": "cond_stage_model.model.ln_final.weight",
    "sd1": "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
}
TEXT_ENCODER_CLASSES = {"text_encoder": CLIPTextModel, "text_encoder_2": CLIPTextModelWithProjection}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return {arch: tiny.make_tiny_checkpoint(arch, str(folder / f"tiny-{arch}.safetensors")) for arch in ARCHS}


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("arch", ARCHS)
def test_file_and_config_folder_written(checkpoints, arch):
    path = checkpoints[arch]
    assert 0 < os.path.getsize(path) < 10_000_000
    folder = tiny.config_folder_for(path)
    assert folder.endswith(f"tiny-{arch}.config")
    encoders = {"sdxl": {"text_encoder", "text_encoder_2"}, "sdxl-refiner": {"text_encoder_2"}}.get(
        ARCH_FAMILIES[arch], {"text_encoder"})
    expected = {name for name in CONFIG_FILES if not name.startswith("text_encoder") or name in encoders}
    assert {name for name, rel in CONFIG_FILES.items() if os.path.isfile(os.path.join(folder, rel))} == expected


@pytest.mark.parametrize("arch", ARCHS)
def test_real_key_layout_and_detection_markers(checkpoints, arch):
    family = ARCH_FAMILIES[arch]
    state_dict = safetensors.torch.load_file(checkpoints[arch])
    for prefix in EXPECTED_PREFIXES[family]:
        assert any(key.startswith(prefix) for key in state_dict), prefix
    assert [name for name, key in FAMILY_MARKERS.items() if key in state_dict] == [family]
    input_channels = state_dict["model.diffusion_model.input_blocks.0.0.weight"].shape[1]
    assert input_channels == (9 if arch.endswith("-inpaint") else 4)


@pytest.mark.parametrize("arch", ARCHS)
def test_only_v_prediction_checkpoint_says_so(checkpoints, arch):
    with safetensors.safe_open(checkpoints[arch], framework="pt") as f:
        metadata = f.metadata() or {}
    assert metadata.get("modelspec.prediction_type") == ("v" if arch == "sd2-v" else None)


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_gives_same_bytes(checkpoints, arch, tmp_path):
    again = tiny.make_tiny_checkpoint(arch, str(tmp_path / os.path.basename(checkpoints[arch])), seed=0)
    other_seed = tiny.make_tiny_checkpoint(arch, str(tmp_path / "other.safetensors"), seed=1)
    assert read_file(again) == read_file(checkpoints[arch])
    assert read_file(other_seed) != read_file(checkpoints[arch])


def test_ckpt_format_is_deterministic_and_holds_the_same_weights(checkpoints, tmp_path):
    first = tiny.make_tiny_checkpoint("sd15", str(tmp_path / "a" / "tiny.ckpt"), fmt="ckpt")
    second = tiny.make_tiny_checkpoint("sd15", str(tmp_path / "b" / "tiny.ckpt"), fmt="ckpt")
    assert read_file(first) == read_file(second)
    from_ckpt = torch.load(first, weights_only=True)["state_dict"]
    from_safetensors = safetensors.torch.load_file(checkpoints["sd15"])
    assert from_ckpt.keys() == from_safetensors.keys()
    assert all(torch.equal(from_ckpt[key], from_safetensors[key]) for key in from_ckpt)
    assert os.path.isfile(os.path.join(tmp_path, "a", "tiny.config", "unet", "config.json"))


def test_rejects_unknown_arch_and_format(tmp_path):
    with pytest.raises(ValueError, match="architecture"):
        tiny.make_tiny_checkpoint("sd3", str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="format"):
        tiny.make_tiny_checkpoint("sd15", str(tmp_path / "x.bin"), fmt="bin")


def assert_loaded_exactly(model, expected):
    parameters = dict(model.named_parameters())
    assert not [name for name, param in parameters.items() if param.is_meta]
    assert parameters.keys() == expected.keys()
    assert not [name for name in expected if not torch.equal(parameters[name].detach(), expected[name].float())]


@pytest.mark.parametrize("arch", ARCHS)
def test_diffusers_single_file_loaders_load_every_parameter(checkpoints, arch):
    path, config = checkpoints[arch], tiny.config_folder_for(checkpoints[arch])
    expected = tiny.random_components(arch, seed=0)
    unet = UNet2DConditionModel.from_single_file(path, config=config, subfolder="unet", local_files_only=True)
    assert_loaded_exactly(unet, expected["unet"])
    vae = AutoencoderKL.from_single_file(path, config=config, subfolder="vae", local_files_only=True)
    assert_loaded_exactly(vae, expected["vae"])
    with torch.no_grad():
        assert vae.decode(torch.zeros(1, 4, 32, 32)).sample.shape == (1, 3, 64, 64)

    state_dict = safetensors.torch.load_file(path)
    for name, model_class in TEXT_ENCODER_CLASSES.items():
        if name not in expected:
            continue
        model = create_diffusers_clip_model_from_ldm(
            model_class, state_dict, subfolder=name, config=config, torch_dtype=torch.float32, local_files_only=True
        )
        weights = expected[name]
        if model_class is CLIPTextModel:  # SD 2.x keeps an unused OpenCLIP projection in the checkpoint
            weights = {k.removeprefix("text_model."): v for k, v in weights.items() if k != "text_projection.weight"}
        assert_loaded_exactly(model, weights)


def test_cli_all_writes_every_architecture(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["make_tiny_checkpoint", "--all", "--out-dir", str(tmp_path), "--format", "ckpt"])
    tiny.main()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"tiny-{a}.ckpt" for a in ARCHS] + [f"tiny-{a}.config" for a in ARCHS]
    )
