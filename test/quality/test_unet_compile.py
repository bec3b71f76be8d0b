"""--opt-compile on the CPU (inductor's C++ code instead of CUDA graphs, the same wiring): the UNet is compiled once
per shape, announced and timed, its code cached in the data dir; the images are the eager ones; with a LoRA on
the UNet it runs uncompiled and says so, and compiled again after."""

import os

import numpy as np
import pytest

from modules import paths_internal, processing, sd_models, shared, unet_compile
from test.quality.test_lora import lora_extension, tiny_lora  # noqa: F401 (fixtures)

SMALL = {"width": 64, "height": 64, "steps": 3, "seed": 77, "sampler_name": "Euler", "do_not_save_samples": True,
         "do_not_save_grid": True}


def generate(prompt: str = "a red circle") -> np.ndarray:
    result = processing.process_images(processing.StableDiffusionProcessingTxt2Img(prompt=prompt, **SMALL))
    return np.asarray(result.images[0], dtype=np.int16)


@pytest.fixture
def compiled_model(sd_model, tiny_checkpoint, monkeypatch):
    info = sd_models.get_closet_checkpoint_match(os.path.basename(tiny_checkpoint))
    monkeypatch.setattr(shared.cmd_opts, "opt_compile", True)
    model = sd_models.load_model(info)
    yield model
    monkeypatch.undo()
    sd_models.load_model(info)


@pytest.mark.usefixtures("lora_extension")
def test_the_unet_is_compiled_once_per_shape_and_draws_the_eager_image(sd_model, tiny_checkpoint, monkeypatch, capsys,
                                                                       request):
    eager, eager_lora = generate(), generate("a red circle <lora:tiny:1>")
    model = request.getfixturevalue("compiled_model")
    assert isinstance(model.unet_runner, unet_compile.CompiledUNet) and model.unet_runner.mode == "default"
    capsys.readouterr()

    first = generate()
    console = capsys.readouterr().out
    assert "--opt-compile: Compiling the UNet for 2 latents of 32x32" in console and "compiled in" in console
    assert np.abs(first - eager).max() <= 2
    assert os.listdir(unet_compile.cache_dir(paths_internal.data_path)), "the compiled code is kept in the data dir"

    calls = []
    compiled = model.unet_runner.compiled
    monkeypatch.setattr(model.unet_runner, "compiled", lambda *a, **k: calls.append(1) or compiled(*a, **k))
    assert np.array_equal(generate(), first)
    assert "Compiling" not in capsys.readouterr().out and len(calls) == SMALL["steps"]

    with_lora = generate("a red circle <lora:tiny:1>")
    assert "a LoRA is on the UNet; it runs uncompiled" in capsys.readouterr().out
    assert len(calls) == SMALL["steps"] and np.abs(with_lora - eager_lora).max() <= 2

    assert np.array_equal(generate(), first)
    assert len(calls) == 2 * SMALL["steps"], "compiled again once the LoRA is gone"


def test_without_the_flag_the_unet_runs_as_it_is(sd_model):
    assert sd_model.unet_runner is None


def test_on_a_gpu_the_unet_is_compiled_with_cuda_graphs(sd_model, tmp_path):
    import torch

    runner = unet_compile.CompiledUNet(sd_model.unet, torch.device("cuda"), str(tmp_path / "cache"))
    assert runner.mode == "reduce-overhead", "torch.compile's CUDA graphs mode; nothing is compiled until called"


def test_with_cuda_graphs_each_call_returns_its_own_copy_of_the_output(sd_model, tmp_path):
    """A CUDA graph's replay writes its output where the last one was: the cond and uncond of a step (two calls when
    their token lengths differ) must not end up the same tensor."""
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

    runner = unet_compile.CompiledUNet(sd_model.unet, torch.device("cuda"), str(tmp_path / "cache"))
    graph_output = torch.zeros(1, 4, 8, 8)

    def replay(x, t, **kwargs):
        graph_output.copy_(x)
        return UNet2DConditionOutput(sample=graph_output)

    runner.compiled = replay
    hidden = torch.zeros(1, 77, 8)
    runner.shapes_compiled.add(((1, 4, 8, 8), torch.float32, tuple(hidden.shape)))
    first = runner(torch.full((1, 4, 8, 8), 1.0), 1, encoder_hidden_states=hidden).sample
    second = runner(torch.full((1, 4, 8, 8), 2.0), 1, encoder_hidden_states=hidden).sample
    assert float(first.max()) == 1.0 and float(second.max()) == 2.0
