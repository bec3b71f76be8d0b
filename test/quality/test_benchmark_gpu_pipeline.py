"""benchmarks/gpu_pipeline.py in its --tiny mode, on the CPU (also where there is a GPU: in 32-bit floats the launch
counts compare the two loops, not autocast's casts): the same code a GPU run uses, end to end, and a check that ours
and diffusers computed the same image from the same file, noise and scheduler with the same work per step."""

import argparse
import gzip
import json
import os
import subprocess
import sys

import torch
from torch._dynamo.eval_frame import OptimizedModule

from benchmarks import gpu_pipeline
from modules import devices

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_tiny_run_measures_every_column_and_ours_matches_diffusers(tmp_path):
    rows = ["sd15-b1-dpmpp_2m_karras", "sdxl-b1-euler_a"]
    report = tmp_path / "results.json"
    profiles = tmp_path / "profiles"
    finished = subprocess.run([sys.executable, "-m", "benchmarks.gpu_pipeline", "--tiny", "--steps", "2", "--repeats",
                               "1", "--rows", *rows, "--json", str(report), "--profile", str(profiles)],
                              cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=600, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "| row | ours s/img | diffusers s/img |" in finished.stdout
    results = {result["row"]: result for result in json.loads(report.read_text())}
    assert list(results) == rows
    for result in results.values():
        assert result["ours_s_per_image"] > 0 and result["diffusers_s_per_image"] > 0
        assert result["ratio"] == result["ours_s_per_image"] / result["diffusers_s_per_image"]
        assert 0 < result["physical_limit_s_per_image"] < result["ours_s_per_image"]
        assert result["bare_unet_s_per_image"] > 0
    assert set(results["sd15-b1-dpmpp_2m_karras"]["load_s"]) == {"ours", "diffusers"}
    assert results["sd15-b1-dpmpp_2m_karras"]["mean_pixel_difference"] < 2, "the same image as diffusers"
    assert results["sdxl-b1-euler_a"]["mean_pixel_difference"] is None, "an ancestral sampler draws other noise"
    for result in results.values():
        ops, syncs = result["ops_per_step"], result["syncs_per_image"]
        assert 0 < ops["ours"] <= 1.02 * ops["diffusers"], "no more work per sampling step than diffusers' loop"
        assert syncs["ours"] <= syncs["diffusers"] + 2, "host syncs: diffusers' own, and one NaN check per latent " \
                                                        "and per decoded image"
    for row in rows:
        for side in ("ours", "diffusers"):
            counted = results[row]["profile"][side]
            assert counted["kernels"] is None, "no GPU kernels on the CPU"
            assert counted["aten::copy_"] > 0 and counted["aten::_to_copy"] > 0
            assert "Self CPU" in (profiles / f"{row}-{side}.txt").read_text()
            with gzip.open(profiles / f"{row}-{side}.json.gz", "rt") as trace:
                assert json.load(trace)["traceEvents"]


def test_only_the_deterministic_samplers_are_compared_pixel_by_pixel():
    deterministic = {row.name for row in gpu_pipeline.ROWS if row.deterministic}
    assert deterministic == {"sd15-b1-dpmpp_2m_karras", "sd15-b4-dpmpp_2m_karras"}


def test_diffusers_can_be_given_what_the_webui_flags_give_ours(sd_model, tiny_checkpoint):
    def convolutions(module):
        return [layer.weight for layer in module.modules() if isinstance(layer, torch.nn.Conv2d)
                and layer.kernel_size != (1, 1)]

    defaults = gpu_pipeline.load_diffusers(tiny_checkpoint, sd_model, devices.cpu, torch.float32)
    assert not isinstance(defaults.unet, OptimizedModule)
    assert all(weight.is_contiguous() for weight in convolutions(defaults.unet) + convolutions(defaults.vae))

    flags = argparse.Namespace(opt_channelslast=True, opt_compile=True)
    same = gpu_pipeline.load_diffusers(tiny_checkpoint, sd_model, devices.cpu, torch.float32, same_flags=flags)
    assert isinstance(same.unet, OptimizedModule), "its UNet under torch.compile (compiled at its first call)"
    weights = convolutions(same.unet) + convolutions(same.vae)
    assert weights and all(weight.is_contiguous(memory_format=torch.channels_last) for weight in weights)
