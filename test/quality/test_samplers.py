"""Samplers: every listed sampler under two schedules runs and is deterministic; A1111 name resolution."""

import re

import numpy as np
import pytest
import torch

from modules import processing, sd_samplers, sd_schedulers

# A1111's samplers (reference: a1111-surfaces.md); the ones we do not list must not be findable.
A1111_SAMPLERS = ["DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
                  "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart", "DDIM",
                  "DDIM CFG++", "PLMS", "UniPC", "LCM"]
LISTED = sd_samplers.visible_sampler_names()


def schedules_to_run(sampler_name: str) -> list[str]:
    """Automatic, plus a supported schedule that is not what Automatic already means for this sampler."""
    sampler = sd_samplers.find_sampler_config(sampler_name)
    others = [s for s in sampler.supported_schedules() if s.name not in ("automatic", sampler.default_schedule)]
    others.sort(key=lambda s: s.name not in ("karras", "exponential", "sgm_uniform"))
    return ["Automatic"] + [s.label for s in others[:1]]


def txt2img(sampler_name: str, scheduler: str, seed: int = 1234) -> np.ndarray:
    p = processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle", seed=seed, steps=3, width=32, height=32, sampler_name=sampler_name,
        scheduler=scheduler, do_not_save_samples=True, do_not_save_grid=True)
    result = processing.process_images(p)
    assert (result.sampler_name, result.scheduler) == (sampler_name, scheduler)
    return np.asarray(result.images[0], dtype=np.int16)


def test_listed_samplers_are_a1111_names():
    assert LISTED and set(LISTED) <= set(A1111_SAMPLERS)


@pytest.mark.parametrize("sampler_name", LISTED)
def test_sampler_runs_deterministically_under_two_schedules(sd_model, sampler_name):
    schedules = schedules_to_run(sampler_name)
    images = {}
    for schedule in schedules:
        first = txt2img(sampler_name, schedule)
        assert np.array_equal(first, txt2img(sampler_name, schedule)), f"{sampler_name}/{schedule}: same seed"
        assert not np.array_equal(first, txt2img(sampler_name, schedule, seed=4321)), \
            f"{sampler_name}/{schedule}: another seed gives another image"
        images[schedule] = first
    if len(schedules) == 1:  # LCM: its scheduler keeps its own timesteps, so no other schedule is offered
        assert sd_samplers.find_sampler_config(sampler_name).supported_schedules() == \
            [sd_schedulers.find_scheduler("Automatic")]
    else:
        assert not np.array_equal(*images.values()), f"{sampler_name}: the schedule type takes effect"


@pytest.mark.parametrize(("name", "expected"), [
    ("DPM++ 2M Karras", ("DPM++ 2M", "Karras")),
    ("DPM++ 2M SDE Exponential", ("DPM++ 2M SDE", "Exponential")),
    ("Euler a", ("Euler a", "Automatic")),
    ("k_dpmpp_2m", ("DPM++ 2M", "Automatic")),
    ("Euler SGM Uniform", ("Euler", "SGM Uniform")),
])
def test_combined_and_alias_names_resolve(name, expected):
    assert sd_samplers.get_sampler_and_scheduler(name, None) == expected


def test_combined_name_generates_as_the_split_pair(sd_model):
    combined = processing.StableDiffusionProcessingTxt2Img(sampler_name="DPM++ 2M Karras")
    assert (combined.sampler_name, combined.scheduler) == ("DPM++ 2M", "Karras")
    assert np.array_equal(txt2img(combined.sampler_name, combined.scheduler), txt2img("DPM++ 2M", "Karras"))


@pytest.mark.parametrize("name", ["Nonexistent Sampler", "DPM++ 2M Nonexistent"])
def test_unknown_sampler_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match=re.escape(name)):
        sd_samplers.get_sampler_and_scheduler(name, None)
    with pytest.raises(ValueError, match=re.escape(name)):
        processing.StableDiffusionProcessingTxt2Img(sampler_name=name)


def test_unknown_schedule_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="Nonexistent Schedule"):
        sd_samplers.get_sampler_and_scheduler("Euler", "Nonexistent Schedule")


def test_unsupported_schedule_is_a_value_error_naming_both():
    pairs = [(sampler.name, schedule.label) for sampler in sd_samplers.samplers
             for schedule in sd_schedulers.schedulers if schedule not in sampler.supported_schedules()]
    assert pairs, "some sampler lacks some schedule"
    for sampler_name, schedule in pairs:
        with pytest.raises(ValueError, match=f"{re.escape(schedule)}.*{re.escape(sampler_name)}"):
            sd_samplers.get_sampler_and_scheduler(sampler_name, schedule)


def test_samplers_not_listed_are_not_findable():
    for name in sorted(set(A1111_SAMPLERS) - set(LISTED)) + ["Not A Sampler"]:
        assert sd_samplers.find_sampler_config(name) is None
        for spelled in (name, f"{name} Karras"):
            with pytest.raises(ValueError, match="sampler not found"):
                sd_samplers.get_sampler_and_scheduler(spelled, None)


def test_the_cond_batch_is_built_again_only_when_a_prompts_schedule_moves_on(sd_model, monkeypatch):
    from modules import prompt_parser, script_callbacks

    monkeypatch.setitem(script_callbacks.callback_map, "callbacks_cfg_denoiser", [])
    entry = prompt_parser.ScheduledPromptConditioning
    first, second, negative = (torch.full((77, 8), value) for value in (1.0, 2.0, -1.0))
    cond, uncond = [[entry(1, first), entry(3, second)]], [[entry(3, negative)]]
    sampler = sd_samplers.create_sampler("Euler", sd_model)
    at = [sampler.conds_at(cond, uncond, step) for step in range(4)]
    assert at[0][0] is at[1][0] and at[2][0] is at[3][0], "the same tensors while the same entries are in effect"
    assert torch.equal(at[0][0], first[None]) and torch.equal(at[2][0], second[None]), "[from:to:when] moves on"
    assert torch.equal(at[3][2], torch.cat([second[None], negative[None]])), "cond then uncond, for one UNet batch"

    monkeypatch.setitem(script_callbacks.callback_map, "callbacks_cfg_denoiser", [object()])
    again = [sampler.conds_at(cond, uncond, step) for step in range(2)]
    assert again[0][0] is not again[1][0] and again[0][2] is None, \
        "an on_cfg_denoiser callback gets new tensors every step (it may change them in place)"
