"""M18 item 5, the samplers of our own solvers through the real pipeline: A1111's step counts (img2img, hires fix),
prompt editing by step, each image's own noise in a batch, eta and its infotext, and the model's output turned into
a denoised estimate for noise- and v-prediction models."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from modules import processing, refiner, script_callbacks, sd_samplers, sd_schedulers, shared
from modules.sd_samplers_sigma import to_denoised
from test.generation_job import process_as_a_job

SMALL = {"prompt": "a red circle", "seed": 5, "width": 32, "height": 32, "do_not_save_samples": True,
         "do_not_save_grid": True}
K_SAMPLERS = ["DPM++ 2S a", "DPM fast", "DPM adaptive", "Restart"]


@pytest.fixture
def denoiser_calls():
    """(sampling step, total sampling steps) of each UNet call of the generations the test runs."""
    seen = []

    def record(params):
        seen.append((params.sampling_step, params.total_sampling_steps))

    script_callbacks.on_cfg_denoiser(record)
    try:
        yield seen
    finally:
        script_callbacks.remove_callbacks_for_function(record)


def pixels(result, index=0) -> np.ndarray:
    return np.asarray(result.images[index], dtype=np.int16)


@pytest.mark.parametrize("parameterization", ["eps", "v"])
def test_the_models_output_becomes_the_clean_latent(parameterization):
    clean, noise, sigma = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), 3.0
    x = clean + sigma * noise
    if parameterization == "eps":
        output = noise
    else:  # v = alpha * noise - s * clean, with the UNet seeing x / sqrt(sigma^2 + 1) = alpha * clean + s * noise
        alpha, s = 1 / math.sqrt(sigma ** 2 + 1), sigma / math.sqrt(sigma ** 2 + 1)
        output = alpha * noise - s * clean
    assert torch.allclose(to_denoised(output, x, sigma, parameterization), clean, atol=1e-5)


@pytest.mark.parametrize(("sampler_name", "steps_run"), [
    ("DPM++ 2S a", 4), ("Restart", 4), ("DPM adaptive", 4), ("DDIM CFG++", 3)])
def test_img2img_runs_a1111s_share_of_the_steps(sd_model, denoiser_calls, sampler_name, steps_run):
    """strength 0.75 of 4 steps: A1111's k-diffusion samplers run int(0.75 * 4) + 1, its timestep samplers 3."""
    image = processing.StableDiffusionProcessingTxt2Img(sampler_name="Euler", steps=2, **SMALL)
    source = process_as_a_job(image).images[0]
    denoiser_calls.clear()
    result = process_as_a_job(processing.StableDiffusionProcessingImg2Img(
        init_images=[source], denoising_strength=0.75, steps=4, sampler_name=sampler_name, **SMALL), "img2img")
    assert {total for _, total in denoiser_calls} == {steps_run}
    assert np.isfinite(pixels(result)).all() and f"Sampler: {sampler_name}," in result.infotexts[0]


def test_prompt_editing_follows_the_step_each_model_call_belongs_to(sd_model, denoiser_calls):
    process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
        sampler_name="DPM++ 2S a", steps=4, **{**SMALL, "prompt": "a [red:blue:2] circle"}))
    # two calls a step (the noise level, then the midpoint in log sigma), one for the step into 0
    assert denoiser_calls == [(0, 4), (0, 4), (1, 4), (1, 4), (2, 4), (2, 4), (3, 4)]


@pytest.mark.parametrize(("sampler_name", "schedule"), [("DPM++ 2S a", "Automatic"), ("Restart", "Automatic"),
                                                      ("DPM++ SDE", "KL Optimal")])
def test_each_image_of_a_batch_has_its_own_noise_as_if_generated_alone(sd_model, sampler_name, schedule):
    steps = 20 if sampler_name == "Restart" else 4  # Restart restarts (adding noise) from 20 steps on
    fields = {"sampler_name": sampler_name, "scheduler": schedule, "steps": steps}
    batch = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(batch_size=2, **fields, **SMALL))
    for index, seed in enumerate((SMALL["seed"], SMALL["seed"] + 1)):
        alone = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(**fields, **{**SMALL, "seed": seed}))
        assert np.abs(pixels(batch, index) - pixels(alone)).max() <= 1, f"image {index}"
    assert not np.array_equal(pixels(batch, 0), pixels(batch, 1))


@pytest.mark.parametrize(("sampler_name", "eta", "written"), [
    ("DPM++ 2S a", 0.0, "Eta: 0.0"), ("DPM fast", 0.5, "Eta: 0.5"), ("DDIM CFG++", 0.5, "Eta DDIM: 0.5")])
def test_eta_changes_the_image_and_is_written_unless_a1111s_default(sd_model, sampler_name, eta, written):
    default = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name=sampler_name, steps=4,
                                                                           **SMALL))
    changed = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name=sampler_name, steps=4,
                                                                           eta=eta, **SMALL))
    assert not np.array_equal(pixels(default), pixels(changed))
    assert written in changed.infotexts[0] and "Eta" not in default.infotexts[0]


def test_the_hires_pass_runs_the_second_pass_steps_asked_for(sd_model, denoiser_calls):
    process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
        sampler_name="DPM++ 2S a", steps=3, enable_hr=True, hr_scale=1.5, hr_second_pass_steps=2,
        denoising_strength=0.5, hr_upscaler="Latent", **SMALL))
    assert [total for _, total in denoiser_calls] == [3] * 5 + [2] * 3  # 2 + 2 + 1 calls, then 2 + 1


def test_the_refiner_takes_over_at_its_share_of_the_timesteps(sd_model, second_checkpoint):
    calls = []

    def record(params):
        calls.append((float(params.sigma), params.denoiser.model.sd_checkpoint_info.name_for_extra))

    script_callbacks.on_cfg_denoiser(record)
    try:
        result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
            sampler_name="Restart", steps=6, refiner_checkpoint=second_checkpoint.title, refiner_switch_at=0.5,
            **SMALL))
    finally:
        script_callbacks.remove_callbacks_for_function(record)
    base = sd_model.sd_checkpoint_info.name_for_extra
    names = [name for _, name in calls]
    assert names[0] == base and names[-1] == "other-sd15" and names == sorted(names, key=lambda n: n != base)
    assert "Refiner switch at: 0.5" in result.infotexts[0]
    table = sd_schedulers.model_sigmas(sd_samplers.create_sampler("Restart", sd_model).make_scheduler())

    def completed(t):  # A1111: the model's noise level nearest the step's, as a timestep counted from 999
        sigma = sd_schedulers.t_to_sigma(torch.tensor(t), table)
        return (999 - int(torch.argmin((table - sigma).abs()))) / 1000

    first_refined = names.index("other-sd15")
    assert all(completed(t) < 0.5 for t, _ in calls[:first_refined]) and completed(calls[first_refined][0]) >= 0.5


def test_ddims_eta_comes_from_its_option_when_the_request_names_none(sd_model, monkeypatch):
    plain = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DDIM", steps=4, **SMALL))
    monkeypatch.setitem(shared.opts.data, "eta_ddim", 0.5)
    with_option = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DDIM", steps=4,
                                                                               **SMALL))
    asked = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DDIM", steps=4, eta=0.5,
                                                                         **SMALL))
    assert not np.array_equal(pixels(plain), pixels(with_option))
    assert np.array_equal(pixels(with_option), pixels(asked))
    assert "Eta DDIM: 0.5" in with_option.infotexts[0] and "Eta" not in plain.infotexts[0]


@pytest.mark.parametrize(("sampler_name", "schedule", "engine"), [
    ("DDIM", "Automatic", "DiffusersSampler"), ("DDIM", "Karras", "SigmaSampler"),
    ("PLMS", "KL Optimal", "SigmaSampler"), ("Heun", "Beta", "SigmaSampler"), ("Euler", "Karras", "DiffusersSampler"),
    ("DPM++ SDE", "Karras", "DiffusersSampler"), ("DPM++ SDE", "KL Optimal", "SigmaSampler")])
def test_a_schedule_the_diffusers_scheduler_cannot_follow_runs_on_the_samplers_own_solver(sd_model, sampler_name,
                                                                                        schedule, engine):
    assert type(sd_samplers.create_sampler(sampler_name, sd_model, schedule)).__name__ == engine
    result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name=sampler_name,
                                                                          scheduler=schedule, steps=4, **SMALL))
    assert f"Sampler: {sampler_name}, Schedule type: {schedule}," in result.infotexts[0]


@pytest.mark.parametrize("sampler_name", ["Euler", "DPM++ 2S a"])
def test_always_discard_next_to_last_sigma_leaves_out_that_level_and_says_so(sd_model, denoiser_calls, monkeypatch,
                                                                             sampler_name):
    seen = []

    def record(params):
        seen.append(float(params.sigma))

    script_callbacks.on_cfg_denoiser(record)
    try:
        plain = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name=sampler_name, steps=4,
                                                                             **SMALL))
        first_run = list(seen)
        seen.clear()
        monkeypatch.setitem(shared.opts.data, "always_discard_next_to_last_sigma", True)
        discarded = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name=sampler_name, steps=4,
                                                                                 **SMALL))
    finally:
        script_callbacks.remove_callbacks_for_function(record)
    sampler = sd_samplers.create_sampler(sampler_name, sd_model)
    scheduler = sampler.make_scheduler()
    table = sd_schedulers.model_sigmas(scheduler)
    five = sd_schedulers.sigma_list(sampler.schedule, 5, scheduler)  # its Automatic: Uniform, Karras for DPM++ 2S a
    expected = torch.cat([five[:-2], five[-1:]])  # 5 steps' levels without the one before 0: 4 steps
    for timestep in sd_schedulers.sigma_to_t(expected[:-1], table).tolist():  # each step starts at its level
        assert min(abs(timestep - t) for t in seen) < 1e-3, (timestep, seen)
    assert seen != first_run and "Discard penultimate sigma: True" in discarded.infotexts[0]
    assert "Discard penultimate sigma" not in plain.infotexts[0]


def test_dpm2_leaves_out_the_next_to_last_level_by_itself(sd_model, denoiser_calls):
    seen = []

    def record(params):
        seen.append(float(params.sigma))

    script_callbacks.on_cfg_denoiser(record)
    try:
        result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DPM2", steps=4,
                                                                              **SMALL))
    finally:
        script_callbacks.remove_callbacks_for_function(record)
    table = sd_schedulers.model_sigmas(sd_samplers.create_sampler("DPM2", sd_model).make_scheduler())
    five = sd_schedulers.karras(5, float(table[0]), float(table[-1]))
    starts = sd_schedulers.sigma_to_t(torch.cat([five[:4], five[5:]])[:4], table).tolist()  # 5 levels, 4th out
    assert np.allclose(seen[0::2][:4], starts, atol=1e-2), (seen, starts)
    assert {total for _, total in denoiser_calls} == {4} and "Discard penultimate" not in result.infotexts[0]


def test_ddim_cfgpp_runs_exactly_the_steps_asked_for(sd_model, denoiser_calls):
    process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DDIM CFG++", steps=6, **SMALL))
    assert denoiser_calls == [(step, 6) for step in range(6)]  # 1000 is no multiple of 6


def test_eta_is_written_only_by_the_samplers_that_take_it(sd_model):
    heun = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="Heun", steps=3, eta=0.5,
                                                                        **SMALL))
    dpm2_a = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DPM2 a", steps=3, eta=0.5,
                                                                          **SMALL))
    assert "Eta" not in heun.infotexts[0] and "Eta: 0.5" in dpm2_a.infotexts[0]


def test_sigma_noise_scales_the_fresh_noise_of_the_ancestral_samplers(sd_model):
    def image(**fields):
        return pixels(process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DPM++ 2S a",
                                                                                   steps=4, **SMALL, **fields)))

    assert not np.array_equal(image(), image(s_noise=0.5))


def test_dpm_pp_sde_takes_the_discard_option_on_its_own_solver(sd_model, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "always_discard_next_to_last_sigma", True)
    assert type(sd_samplers.create_sampler("DPM++ SDE", sd_model, "Karras", 1.0, reshaped=True)).__name__ == \
        "SigmaSampler"
    result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DPM++ SDE", steps=4,
                                                                          **SMALL))
    assert "Discard penultimate sigma: True" in result.infotexts[0]


def test_euler_a_with_another_eta_runs_on_our_solver_and_says_so(sd_model):
    assert type(sd_samplers.create_sampler("Euler a", sd_model, "Automatic", 1.0)).__name__ == "DiffusersSampler"
    assert type(sd_samplers.create_sampler("Euler a", sd_model, "Automatic", 0.5)).__name__ == "SigmaSampler"
    default = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="Euler a", steps=4, **SMALL))
    halved = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="Euler a", steps=4, eta=0.5,
                                                                          **SMALL))
    assert not np.array_equal(pixels(default), pixels(halved)) and "Eta: 0.5" in halved.infotexts[0]


def test_heun_takes_the_churn_settings(sd_model):
    def heun(**fields):
        return pixels(process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="Heun", steps=4,
                                                                                   **SMALL, **fields)))

    plain, churned = heun(), heun(s_churn=5.0)
    assert not np.array_equal(plain, churned) and np.array_equal(churned, heun(s_churn=5.0))
    assert np.array_equal(plain, heun(s_churn=5.0, s_tmin=100.0))  # no step's noise level is within the range


def test_ddim_cfgpp_guides_at_the_cfg_scale_over_12_5(sd_model):
    outputs, guided = [], []

    def record_outputs(params):
        outputs.append(params.x.chunk(2))

    def record_guided(params):
        guided.append(params.x)

    script_callbacks.on_cfg_denoised(record_outputs)
    script_callbacks.on_cfg_after_cfg(record_guided)
    try:
        process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DDIM CFG++", steps=2,
                                                                     cfg_scale=5.0, **SMALL))
    finally:
        script_callbacks.remove_callbacks_for_function(record_outputs)
        script_callbacks.remove_callbacks_for_function(record_guided)
    (cond, uncond), first = outputs[0], guided[0]
    assert torch.allclose(first, uncond + (cond - uncond) * (5.0 / 12.5), atol=1e-5)


def test_the_refiner_is_asked_at_the_index_of_the_models_nearest_noise_level(sd_model, monkeypatch):
    asked = []
    monkeypatch.setattr(refiner, "switch_if_due", lambda p, sampler, timestep, step, steps: asked.append(
        timestep) or False)
    process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="DPM++ 2S a", steps=3, **SMALL))
    table = sd_schedulers.model_sigmas(sd_samplers.create_sampler("DPM++ 2S a", sd_model).make_scheduler())
    sigmas = sd_schedulers.karras(3, float(table[0]), float(table[-1]))
    assert float(asked[0]) == int(torch.argmin((table - sigmas[0]).abs())) == 999
    assert float(asked[2]) == int(torch.argmin((table - sigmas[1]).abs()))  # the second step's first call


def test_inpainting_keeps_the_original_latent_outside_the_mask_in_every_estimate(sd_model, monkeypatch):
    from modules.sd_samplers_sigma import SigmaSampler

    blended = []
    original = SigmaSampler.keep_unmasked

    def recording(denoised, init_latent, mask, nmask):
        result = original(denoised, init_latent, mask, nmask)
        blended.append((result, init_latent, mask))
        return result

    monkeypatch.setattr(SigmaSampler, "keep_unmasked", staticmethod(recording))
    source = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(sampler_name="Euler", steps=2, **SMALL))
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (0, 0, 16, 32))  # the left half is repainted
    process_as_a_job(processing.StableDiffusionProcessingImg2Img(
        init_images=[source.images[0]], mask=mask, denoising_strength=0.75, steps=4, sampler_name="DPM++ 2S a",
        inpainting_fill=1, mask_blur=0, **SMALL), "img2img")
    assert blended
    for result, init_latent, keep in blended:
        quarter = init_latent.shape[-1] // 4  # the mask's edge blurs into the latent's neighbouring columns
        assert keep is not None and torch.allclose(result[..., -quarter:], init_latent[..., -quarter:])
        assert not torch.allclose(result[..., :quarter], init_latent[..., :quarter])
