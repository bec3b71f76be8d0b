"""The built-in Lora extension on the tiny real model: <lora:...> changes the image only while asked for, and the
model's tensors after a LoRA request are exactly those before it."""

import os
import sys

import numpy as np
import pytest
import torch

from modules import extra_networks, hashes, processing, script_callbacks, shared
from test.extension_fixtures import LORA_SCRIPT, load_builtin_lora, unload_builtin_lora_modules

SMALL = {"width": 64, "height": 64, "steps": 4, "do_not_save_samples": True, "do_not_save_grid": True}


@pytest.fixture(scope="module")
def tiny_lora(data_dir) -> str:
    """The tiny SD1 LoRA as `tiny` in the data dir's models/Lora (the default --lora-dir)."""
    from tools.make_tiny_lora import make_tiny_lora

    return make_tiny_lora("sd15", os.path.join(shared.cmd_opts.lora_dir, "tiny.safetensors"), seed=0)


@pytest.fixture(scope="module")
def lora_extension(tiny_lora):
    """lora_script.py imported as the script loader does (extension folder on sys.path); unloaded afterwards."""
    load_builtin_lora()
    yield sys.modules["networks"]
    script_callbacks.remove_callbacks_for_script(LORA_SCRIPT)
    extra_networks.unregister_extra_network("lora")
    unload_builtin_lora_modules()


@pytest.fixture
def model(sd_model, lora_extension):
    return sd_model


def txt2img(prompt="a red circle", **kwargs) -> processing.Processed:
    args = {"prompt": prompt, "seed": 1234, "sampler_name": "Euler", **SMALL, **kwargs}
    return processing.process_images(processing.StableDiffusionProcessingTxt2Img(**args))


def image_bytes(processed: processing.Processed) -> bytes:
    return processed.images[0].convert("RGB").tobytes()


def pixels(processed: processing.Processed) -> np.ndarray:
    return np.asarray(processed.images[0].convert("RGB"), dtype=np.int16)


def model_tensors(sd_model) -> dict[str, torch.Tensor]:
    modules = {"unet": sd_model.unet, "text_encoder": sd_model.text_encoder}
    return {f"{name}.{key}": tensor.detach().clone() for name, module in modules.items()
            for key, tensor in module.state_dict().items()}


def assert_tensors_equal(before: dict, after: dict) -> None:
    assert list(after) == list(before)
    changed = [key for key in before if not torch.equal(before[key], after[key])]
    assert not changed, f"changed tensors: {changed[:5]}"


def peft_module_names(module: torch.nn.Module) -> list[str]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [name for name, child in module.named_modules() if isinstance(child, BaseTunerLayer)]


def test_weight_zero_gives_the_image_without_lora(model):
    assert image_bytes(txt2img("a red circle <lora:tiny:0>")) == image_bytes(txt2img("a red circle"))


def test_weight_one_changes_the_image(model):
    difference = np.abs(pixels(txt2img("a red circle <lora:tiny:1>")) - pixels(txt2img("a red circle")))
    assert difference.mean() > 2.0


def test_request_after_a_lora_request_is_byte_identical_to_one_without_lora(model):
    never_used = image_bytes(txt2img("a red circle"))
    txt2img("a red circle <lora:tiny:1>")
    assert image_bytes(txt2img("a red circle")) == never_used


def test_every_unet_and_text_encoder_tensor_is_restored_exactly(model):
    before = model_tensors(model)
    txt2img("a red circle <lora:tiny:0.8>")
    assert_tensors_equal(before, model_tensors(model))
    assert peft_module_names(model.unet) == [] and peft_module_names(model.text_encoder) == []


def test_lora_is_applied_during_the_request(model, monkeypatch):
    wrapped_during_sampling = []
    real_sample = processing.StableDiffusionProcessingTxt2Img.sample

    def sample(self, *args, **kwargs):
        wrapped_during_sampling.append((len(peft_module_names(model.unet)), len(peft_module_names(model.text_encoder))))
        return real_sample(self, *args, **kwargs)

    monkeypatch.setattr(processing.StableDiffusionProcessingTxt2Img, "sample", sample)
    txt2img("a red circle <lora:tiny:1>")
    unet_wrapped, text_encoder_wrapped = wrapped_during_sampling[0]
    assert unet_wrapped > 0 and text_encoder_wrapped > 0


def test_text_encoder_only_and_unet_only_multipliers_each_change_the_image(model):
    plain = pixels(txt2img("a red circle"))
    te_only = pixels(txt2img("a red circle <lora:tiny:1:0>"))
    unet_only = pixels(txt2img("a red circle <lora:tiny:0:1>"))
    assert np.abs(te_only - plain).mean() > 1.0
    assert np.abs(unet_only - plain).mean() > 1.0
    assert np.abs(te_only - unet_only).mean() > 1.0


def test_named_multipliers_mean_the_same_as_positional_ones(model):
    assert image_bytes(txt2img("a red circle <lora:tiny:te=0.3:unet=0.7>")) == \
        image_bytes(txt2img("a red circle <lora:tiny:0.3:0.7>"))


def test_one_number_sets_both_multipliers(model):
    assert image_bytes(txt2img("a red circle <lora:tiny:0.6>")) == image_bytes(txt2img("a red circle <lora:tiny:0.6:0.6>"))


def test_an_error_in_the_middle_of_sampling_still_restores_the_model(model, monkeypatch):
    before = model_tensors(model)
    never_used = image_bytes(txt2img("a red circle"))
    real_callback = processing.sampling_progress_callback

    def failing_callback(step, total, latent):
        real_callback(step, total, latent)
        if step == 1:
            raise RuntimeError("boom in the middle of sampling")

    monkeypatch.setattr(processing, "sampling_progress_callback", failing_callback)
    with pytest.raises(RuntimeError, match="boom"):
        txt2img("a red circle <lora:tiny:1>")
    monkeypatch.undo()
    assert peft_module_names(model.unet) == [] and peft_module_names(model.text_encoder) == []
    assert_tensors_equal(before, model_tensors(model))
    assert image_bytes(txt2img("a red circle")) == never_used


def test_infotext_has_lora_hashes_and_the_prompt_keeps_the_tag(model, tiny_lora):
    result = txt2img("a red circle <lora:tiny:0.5>")
    assert result.info.split("\n")[0] == "a red circle <lora:tiny:0.5>"
    assert result.all_prompts == ["a red circle <lora:tiny:0.5>"]
    assert f'Lora hashes: "tiny: {hashes.addnet_hash_safetensors(tiny_lora)[:12]}"' in result.info
    assert hashes.addnet_hash_safetensors(tiny_lora) != hashes.calculate_sha256(tiny_lora)


def test_no_lora_hashes_without_a_lora(model):
    assert "Lora hashes" not in txt2img("a red circle").info


def test_unknown_lora_name_generates_without_it_and_says_so(model):
    result = txt2img("a red circle <lora:no-such-lora:1>")
    assert image_bytes(result) == image_bytes(txt2img("a red circle"))
    assert "Lora not found: no-such-lora" in result.comments
    assert "Lora hashes" not in result.info


def test_unknown_network_type_leaves_the_prompt_and_changes_nothing(model):
    assert image_bytes(txt2img("a red circle <hypernet:something:1>")) == image_bytes(txt2img("a red circle"))


def test_tags_in_the_negative_prompt_are_removed(model):
    assert image_bytes(txt2img(negative_prompt="blue<lora:tiny:1>")) == image_bytes(txt2img(negative_prompt="blue"))


def test_conditioning_made_under_a_lora_is_not_reused_without_it(model):
    """Batch 1 has the LoRA, batch 2 the same text without it: batch 2 must not get batch 1's cached conds."""
    mixed = txt2img(["<lora:tiny:1>a red circle", "a red circle"], n_iter=2)
    plain_second = txt2img("a red circle", seed=1235)
    assert mixed.images[1].convert("RGB").tobytes() == image_bytes(plain_second)


def test_disable_extra_networks_strips_the_tag_without_applying_it(model):
    result = txt2img("a red circle <lora:tiny:1>", disable_extra_networks=True)
    assert image_bytes(result) == image_bytes(txt2img("a red circle"))


def test_refresh_finds_a_new_file(lora_extension):
    from tools.make_tiny_lora import make_tiny_lora

    path = make_tiny_lora("sd15", os.path.join(shared.cmd_opts.lora_dir, "sub", "second.safetensors"), seed=1)
    try:
        assert "second" not in lora_extension.available_networks
        lora_extension.list_available_networks()
        assert lora_extension.available_networks["second"].filename == path
    finally:
        os.remove(path)
        lora_extension.list_available_networks()


@pytest.mark.parametrize(("tag", "expected"), [
    ("tiny", (1.0, 1.0)), ("tiny:0.5", (0.5, 0.5)), ("tiny:0.5:0.2", (0.5, 0.2)),
    ("tiny:te=0.3:unet=0.7", (0.3, 0.7)), ("tiny:0.4:unet=0", (0.4, 0.0))])
def test_multipliers_follow_a1111_te_then_unet(lora_extension, tag, expected):
    import extra_networks_lora

    _, data = extra_networks.parse_prompt(f"<lora:{tag}>")
    assert extra_networks_lora.multipliers_of(data["lora"][0])[:2] == expected


def build_model(arch: str, folder) -> torch.nn.Module:
    from modules.sd_model_diffusers import DiffusersStableDiffusion, config_dir_for
    from modules.sd_models import read_state_dict
    from modules.sd_models_detect import detect_architecture
    from tools.make_tiny_checkpoint import make_tiny_checkpoint

    path = make_tiny_checkpoint(arch, str(folder / f"tiny-{arch}.safetensors"), seed=3)
    state_dict, metadata = read_state_dict(path)
    architecture = detect_architecture(state_dict, metadata, path)
    return DiffusersStableDiffusion(state_dict, architecture, config_dir_for(path, architecture), torch.device("cpu"))


def unet_output(sd_model) -> torch.Tensor:
    with torch.no_grad():
        cond = sd_model.get_learned_conditioning(["a red circle"])
        latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
        return sd_model.apply_model(latent, torch.tensor([500]), cond)


@pytest.mark.parametrize("arch", ["sd15", "sdxl-base"])
def test_tiny_lora_reaches_every_layer_it_names_and_leaves_exactly(lora_extension, tmp_path, arch):
    import lora_adapters

    from tools.make_tiny_lora import lora_module_names, make_tiny_lora

    sd_model = build_model(arch, tmp_path)
    lora_path = make_tiny_lora(arch, str(tmp_path / "lora.safetensors"), seed=0)
    components = {"unet": sd_model.unet, "text_encoder": sd_model.text_encoder}
    if sd_model.is_sdxl:
        components["text_encoder_2"] = sd_model.text_encoder_2
    before = {f"{name}.{key}": tensor.clone() for name, module in components.items()
              for key, tensor in module.state_dict().items()}
    output_before = unet_output(sd_model)

    state_dict, alphas = lora_adapters.read_lora_state_dict(lora_path, sd_model)
    added = lora_adapters.add_adapter(sd_model, "lora_0", state_dict, alphas)
    lora_adapters.set_multipliers(sd_model, {"lora_0": (added, 1.0, 1.0)})
    assert added == set(components)
    named = [component for component, _ in lora_module_names(arch).values()]
    for name, module in components.items():
        assert len(peft_module_names(module)) == named.count(name), name
    assert not torch.equal(unet_output(sd_model), output_before)

    lora_adapters.remove_adapters(sd_model)
    after = {f"{name}.{key}": tensor for name, module in components.items()
             for key, tensor in module.state_dict().items()}
    assert_tensors_equal(before, after)
    assert torch.equal(unet_output(sd_model), output_before)


def test_lora_hash_ignores_the_metadata_header_as_a1111s_addnet_hash(tiny_lora, tmp_path):
    import safetensors.torch

    tensors = safetensors.torch.load_file(tiny_lora)
    relabelled = str(tmp_path / "relabelled.safetensors")
    safetensors.torch.save_file(tensors, relabelled, metadata={"ss_output_name": "other"})
    same_tensors = str(tmp_path / "same.safetensors")
    safetensors.torch.save_file(tensors, same_tensors)
    assert hashes.addnet_hash_safetensors(relabelled) == hashes.addnet_hash_safetensors(same_tensors)
    assert hashes.calculate_sha256(relabelled) != hashes.calculate_sha256(same_tensors)


HIRES = {"enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 4,
         "denoising_strength": 0.9}


def test_a_lora_named_only_in_the_hires_prompt_changes_only_the_second_pass(model):
    plain = txt2img("a red circle", **HIRES, hr_prompt="a red circle")
    hires_lora = txt2img("a red circle", **HIRES, hr_prompt="a red circle <lora:tiny:1>")
    assert np.abs(pixels(hires_lora) - pixels(plain)).mean() > 1.0
    assert 'Lora hashes: "tiny: ' in hires_lora.info
    before = model_tensors(model)
    assert image_bytes(txt2img("a red circle", **HIRES, hr_prompt="a red circle")) == image_bytes(plain)
    assert_tensors_equal(before, model_tensors(model))


def test_without_a_hires_prompt_the_second_pass_keeps_the_first_pass_lora(model):
    both_passes = txt2img("a red circle <lora:tiny:1>", **HIRES)
    first_pass_only = txt2img("a red circle <lora:tiny:1>", **HIRES, hr_prompt="a red circle")
    assert not np.array_equal(pixels(both_passes), pixels(first_pass_only))


def test_a_missing_lora_file_is_a_file_error_never_a_hub_lookup(model, tmp_path, monkeypatch):
    import huggingface_hub
    import lora_adapters

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked for a LoRA")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)
    with pytest.raises(FileNotFoundError):
        lora_adapters.read_lora_state_dict(str(tmp_path / "gone.safetensors"), model)
