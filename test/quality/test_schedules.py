"""M18 item 5, the schedule types A1111 computes itself as sigma lists from the model's noise levels
(Polyexponential, KL Optimal, Simple, Normal, DDIM): each list against its formula, the sampling steps the UNet
sees follow it, and only the samplers that step along a sigma list offer them."""

import math

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler

from modules import processing, script_callbacks, sd_samplers, sd_schedulers, shared
from modules.jobs import failures
from modules.jobs.spec import GenerationSpec
from test.generation_job import process_as_a_job

SIGMA_LIST_SCHEDULES = ["Polyexponential", "KL Optimal", "Align Your Steps", "Simple", "Normal", "DDIM"]


@pytest.fixture(scope="module")
def table() -> torch.Tensor:
    """SD's noise levels (scaled linear betas 0.00085..0.012 over 1000 steps), ascending."""
    return sd_schedulers.model_sigmas(EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                             beta_schedule="scaled_linear"))


def close(values, expected) -> bool:
    return np.allclose(np.asarray(values, dtype=np.float64), np.asarray(expected, dtype=np.float64), rtol=1e-4,
                       atol=1e-6)


def timesteps_seen(sampler_name: str, schedule: str) -> tuple[list[float], processing.Processed]:
    """(the timestep of each UNet call, the result) of a 4-step 32x32 generation."""
    seen = []

    def record(params):
        seen.append(float(params.sigma))

    script_callbacks.on_cfg_denoiser(record)
    try:
        result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
            prompt="a red circle", seed=3, steps=4, width=32, height=32, sampler_name=sampler_name,
            scheduler=schedule, do_not_save_samples=True, do_not_save_grid=True))
    finally:
        script_callbacks.remove_callbacks_for_function(record)
    return seen, result


def test_each_schedule_is_its_formula(table):
    lowest, highest, n = float(table[0]), float(table[-1]), 6
    assert close(sd_schedulers.polyexponential(n, table), [*np.geomspace(highest, lowest, n), 0])  # rho 1: log-linear
    assert close(sd_schedulers.kl_optimal(n, table),
                 np.tan(np.linspace(math.atan(highest), math.atan(lowest), n + 1)))  # ends at the lowest, not 0
    assert close(sd_schedulers.simple(n, table), [float(table[999 - int(x * 1000 / n)]) for x in range(n)] + [0])
    assert close(sd_schedulers.ddim_uniform(n, table), [float(table[i]) for i in range(997, 1, -166)] + [0])
    assert close(sd_schedulers.ddim_uniform(4, table), [float(table[i]) for i in (751, 501, 251, 1)] + [0])
    assert close(sd_schedulers.normal(4, table), [float(table[999]), float(table[666]), float(table[333]),
                                                  float(table[0]), 0])  # timesteps 999, 666, 333, 0


def test_timesteps_and_noise_levels_convert_both_ways(table):
    t = torch.tensor([999.0, 500.5, 10.25, 0.0])
    assert close(sd_schedulers.sigma_to_t(sd_schedulers.t_to_sigma(t, table), table), t)
    assert close(sd_schedulers.t_to_sigma(torch.tensor([999.0, 0.0]), table), [float(table[-1]), float(table[0])])


@pytest.mark.parametrize("sampler_name", ["Euler", "Euler a", "LMS", "DPM++ 2M", "DPM++ 2M SDE", "UniPC"])
@pytest.mark.parametrize("schedule", SIGMA_LIST_SCHEDULES)
def test_a_sigma_list_schedule_drives_the_sampling_steps(sd_model, table, sampler_name, schedule):
    seen, result = timesteps_seen(sampler_name, schedule)
    sigmas = sd_schedulers.find_scheduler(schedule).sigmas(4, table)
    assert close(seen, sd_schedulers.sigma_to_t(sigmas[:-1], table))  # the UNet ran at the schedule's noise levels
    assert f"Schedule type: {schedule}," in result.infotexts[0]
    assert np.isfinite(np.asarray(result.images[0], dtype=np.float32)).all()


def test_the_scheduler_steps_between_the_schedules_noise_levels(sd_model, table):
    sampler = sd_samplers.create_sampler("Euler", sd_model)
    sampler.scheduler_label = "KL Optimal"
    scheduler = sampler.make_scheduler()
    sampler.set_timesteps(scheduler, 5, "cpu")
    sigmas = sd_schedulers.kl_optimal(5, table)
    assert close(scheduler.sigmas, sigmas) and scheduler.num_inference_steps == 5
    x, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    stepped = scheduler.step(eps, scheduler.timesteps[0], x).prev_sample
    assert torch.allclose(stepped, x + (sigmas[1] - sigmas[0]) * eps, atol=1e-5)  # Euler: x + (s1 - s0) * eps


def test_every_sampler_offers_every_schedule_but_the_stated_few():
    every = {s.label for s in sd_schedulers.schedulers}
    fewer = {"DPM fast": {"Automatic"}, "DPM adaptive": {"Automatic"}, "LCM": {"Automatic"}}
    for sampler in sd_samplers.samplers:
        assert {s.label for s in sampler.supported_schedules()} == fewer.get(sampler.name, every), sampler.name
    with pytest.raises(ValueError, match="KL Optimal.*DPM fast"):
        sd_samplers.get_sampler_and_scheduler("DPM fast", "KL Optimal")


def test_the_schedules_are_listed_in_a1111s_order():
    assert [s.name for s in sd_schedulers.schedulers] == [
        "automatic", "uniform", "karras", "exponential", "polyexponential", "sgm_uniform", "kl_optimal",
        "align_your_steps", "simple", "normal", "ddim", "beta"]


@pytest.mark.parametrize(("levels", "function"), [(sd_schedulers.AYS_SD, sd_schedulers.align_your_steps),
                                                   (sd_schedulers.AYS_SDXL, sd_schedulers.align_your_steps_sdxl)])
def test_align_your_steps_is_nvidias_table_stretched_in_log_sigma(table, levels, function):
    assert close(function(11, table), [*levels, 0])  # 11 steps: the table itself
    for steps in (4, 10, 25):
        stretched = np.exp(np.interp(np.linspace(0, 1, steps), np.linspace(0, 1, 11), np.log(levels[::-1])))[::-1]
        assert close(function(steps, table), [*stretched, 0])
    assert levels[0] == 14.615 and levels[-1] == 0.029


def test_align_your_steps_takes_the_sdxl_table_for_sdxl_models(table):
    schedule = sd_schedulers.find_scheduler("Align Your Steps")
    sd_scheduler, sdxl_scheduler = (EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                           beta_schedule="scaled_linear") for _ in range(2))
    for scheduler, is_sdxl in ((sd_scheduler, False), (sdxl_scheduler, True)):
        scheduler.set_timesteps(10)
        sd_schedulers.use_sigma_list(scheduler, schedule, 10, "cpu", is_sdxl=is_sdxl)
    assert close(sd_scheduler.sigmas, sd_schedulers.align_your_steps(10, table))
    assert close(sdxl_scheduler.sigmas, sd_schedulers.align_your_steps_sdxl(10, table))
    assert not close(sd_scheduler.sigmas, sdxl_scheduler.sigmas)


@pytest.mark.parametrize(("sampler_name", "schedule"), [("Euler a", "Karras"), ("Euler a", "Exponential")])
def test_a_schedule_the_scheduler_has_no_setting_for_comes_as_a_sigma_list(sd_model, table, sampler_name, schedule):
    seen, result = timesteps_seen(sampler_name, schedule)
    lowest, highest = float(table[0]), float(table[-1])
    expected = {"Karras": sd_schedulers.karras(4, lowest, highest).tolist()[:-1],
                "Exponential": np.geomspace(highest, lowest, 4).tolist()}[schedule]
    assert close(seen, sd_schedulers.sigma_to_t(torch.tensor(expected), table))
    assert f"Schedule type: {schedule}," in result.infotexts[0]


@pytest.mark.parametrize(("sampler_name", "schedule", "option", "value", "label"), [
    ("Euler", "Karras", "rho", 3.0, "Schedule rho"),
    ("DPM++ 2M", "Polyexponential", "rho", 2.0, "Schedule rho"),
    ("DPM++ 2S a", "Exponential", "sigma_max", 5.0, "Schedule max sigma"),
    ("Euler a", "KL Optimal", "sigma_min", 0.5, "Schedule min sigma"),
])
def test_the_options_sigma_min_sigma_max_and_rho_reshape_the_schedules_that_take_them(
        sd_model, table, monkeypatch, sampler_name, schedule, option, value, label):
    monkeypatch.setitem(shared.opts.data, option, value)
    seen, result = timesteps_seen(sampler_name, schedule)
    ends = {"sigma_min": float(table[0]), "sigma_max": float(table[-1]), "rho": sd_schedulers.find_scheduler(
        schedule).default_rho, option: value}
    expected = sd_schedulers.find_scheduler(schedule).ranged(4, ends["sigma_min"], ends["sigma_max"], ends["rho"])
    for timestep in sd_schedulers.sigma_to_t(expected[:-1], table).tolist():
        assert min(abs(timestep - t) for t in seen) < 1e-2, (timestep, seen)
    assert f"{label}: {value}" in result.infotexts[0]


def test_the_range_options_leave_a_schedule_without_ends_alone(sd_model, monkeypatch):
    monkeypatch.setitem(shared.opts.data, "sigma_max", 5.0)
    result = process_as_a_job(processing.StableDiffusionProcessingTxt2Img(
        prompt="a red circle", seed=3, steps=4, width=32, height=32, sampler_name="Euler", scheduler="Uniform",
        do_not_save_samples=True, do_not_save_grid=True))
    assert "Schedule max sigma" not in result.infotexts[0]


def test_a_negative_range_option_is_refused_and_crossed_ends_are_named(sd_model, monkeypatch):
    for key in ("sigma_min", "sigma_max", "rho"):
        with pytest.raises(ValueError, match=f"{key}: -1.0 is negative"):
            shared.opts.check_value(key, -1.0)
    monkeypatch.setitem(shared.opts.data, "sigma_min", 20.0)  # above the model's highest noise level
    with pytest.raises(sd_schedulers.CrossedNoiseRange, match="sigma_min must be below sigma_max") as crossed:
        timesteps_seen("Euler", "Karras")
    failure = failures.describe(crossed.value, GenerationSpec(mode="txt2img", params={}))
    assert (failure.status, failure.field) == (422, "sigma_min")  # what the API answers


def test_a_sigma_list_stays_where_the_scheduler_keeps_its_sigmas_and_the_timesteps_go_to_the_model(table):
    """diffusers keeps a scheduler's sigmas on the CPU, so that a step's comparisons and arithmetic on them never wait
    for the GPU; the meta device stands in for one."""
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    scheduler.set_timesteps(10)
    sd_schedulers.use_sigma_list(scheduler, sd_schedulers.find_scheduler("Karras"), 10, torch.device("meta"))
    assert scheduler.sigmas.device.type == "cpu" and scheduler.timesteps.device.type == "meta"
    assert close(scheduler.sigmas, sd_schedulers.karras(10, float(table[0]), float(table[-1])))
