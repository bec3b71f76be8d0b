"""M18 item 5, the solvers of our own (sd_samplers_sigma_impl) against their formulas: on Gaussian data, where the
denoiser and the sampling ODE's solution are known in closed form, each deterministic solver converges to the exact
solution at its order, the ancestral ones draw the data's distribution, and Heun's step agrees with diffusers'."""

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, HeunDiscreteScheduler

from modules import sd_samplers_sigma_impl as impl
from modules import sd_schedulers


def karras_list(*args, **kwargs) -> list[float]:
    return sd_schedulers.karras(*args, **kwargs).double().tolist()


MEAN, STD = 0.3, 0.5


def gaussian_denoiser(mean=MEAN, std=STD):
    """The exact denoiser of data ~ N(mean, std^2): E[x0 | x] at noise level sigma."""
    def denoise(x, sigma):
        return (std ** 2 * x + sigma ** 2 * mean) / (std ** 2 + sigma ** 2)
    return denoise


def exact_solution(x_start, sigma_start, sigma_end, mean=MEAN, std=STD):
    """Where the probability-flow ODE takes x_start at sigma_start, at sigma_end."""
    return mean + (x_start - mean) * math.sqrt(std ** 2 + sigma_end ** 2) / math.sqrt(std ** 2 + sigma_start ** 2)


def no_noise(like):
    raise AssertionError("a deterministic solver asked for noise")


def ignore_step(progress, x, denoised):
    pass


def seeded_noise(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return lambda like: torch.randn(like.shape, generator=generator, dtype=like.dtype)


@pytest.fixture
def x_start():
    return torch.randn(64, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 10 + MEAN


def geometric(n, high=10.0, low=0.05):
    return np.geomspace(high, low, n + 1).tolist()


def error_of(solve, x_start, n):
    sigmas = geometric(n)
    x = solve(x_start, sigmas)
    return float((x - exact_solution(x_start, sigmas[0], sigmas[-1])).abs().max())


def observed_order(solve, x_start, n=8):
    return math.log2(error_of(solve, x_start, n) / error_of(solve, x_start, 2 * n))


def test_ancestral_step_splits_the_next_noise_level():
    down, up = impl.ancestral_step(2.0, 1.0, eta=1.0)
    assert math.isclose(down ** 2 + up ** 2, 1.0) and math.isclose(down, 0.5)  # eta 1: sigma_next^2 / sigma
    assert impl.ancestral_step(2.0, 1.0, eta=0.0) == (1.0, 0.0)
    assert impl.ancestral_step(2.0, 0.0, eta=1.0) == (0.0, 0.0)
    half_down, half_up = impl.ancestral_step(2.0, 1.0, eta=0.5)
    assert math.isclose(half_up, up / 2) and half_down > down


def test_karras_sigmas_are_even_in_sigma_to_the_one_over_rho():
    sigmas = karras_list(5, 0.1, 10.0, rho=7.0)
    assert sigmas[-1] == 0 and math.isclose(sigmas[0], 10.0, rel_tol=1e-6) and math.isclose(sigmas[4], 0.1, rel_tol=1e-6)
    roots = np.asarray(sigmas[:-1]) ** (1 / 7)
    assert np.allclose(np.diff(roots), np.diff(roots)[0], rtol=1e-5)


def test_dpmpp_2s_without_noise_is_second_order(x_start):
    def solve(x, sigmas):
        return impl.sample_dpmpp_2s_ancestral(gaussian_denoiser(), x, sigmas, no_noise, ignore_step, eta=0.0)

    assert error_of(solve, x_start, 32) < 1e-2  # x_start spans about +-20
    assert 1.7 < observed_order(solve, x_start) < 2.5


def test_dpm_solver_steps_have_their_orders(x_start):
    solver = impl._DpmSolver(gaussian_denoiser())
    t, t_next = -math.log(5.0), -math.log(0.5)
    expected = exact_solution(x_start, 5.0, 0.5)
    errors = {}
    for order in (1, 2, 3):
        for halvings in (0, 1):
            n = 4 * 2 ** halvings
            times = np.linspace(t, t_next, n + 1)
            x = x_start
            for a, b in zip(times[:-1], times[1:]):
                solver.cache = {}
                x = solver.step(order, x, a, b, solver.eps("eps", x, a))
            errors[order, halvings] = float((x - expected).abs().max())
    orders = {order: math.log2(errors[order, 0] / errors[order, 1]) for order in (1, 2, 3)}
    assert 0.8 < orders[1] < 1.3 and 1.7 < orders[2] < 2.4 and 2.6 < orders[3] < 3.6, orders
    euler = x_start - (5.0 - 0.5) * (x_start - gaussian_denoiser()(x_start, 5.0)) / 5.0
    assert torch.allclose(solver.step_1(x_start, t, t_next, (x_start - gaussian_denoiser()(x_start, 5.0)) / 5.0),
                          euler)  # first order is Euler's step


@pytest.mark.parametrize(("evaluations", "orders"), [
    (1, [1]), (2, [2]), (3, [2, 1]), (9, [3, 3, 2, 1]), (10, [3, 3, 3, 1]), (20, [3] * 6 + [2])])
def test_dpm_fast_spends_exactly_its_evaluations(evaluations, orders):
    assert impl.dpm_fast_orders(evaluations) == orders and sum(orders) == evaluations


def counting(denoise):
    calls = []

    def counted(x, sigma):
        calls.append(sigma)
        return denoise(x, sigma)
    return counted, calls


def test_dpm_fast_makes_as_many_model_calls_as_steps_and_converges(x_start):
    errors = []
    for steps in (6, 24):
        denoise, calls = counting(gaussian_denoiser())
        x = impl.sample_dpm_fast(denoise, x_start, 0.05, 10.0, steps, no_noise, ignore_step)
        assert len(calls) == steps
        errors.append(float((x - exact_solution(x_start, 10.0, 0.05)).abs().max()))
    assert errors[1] < errors[0] / 8 and errors[1] < 1e-2


def test_dpm_adaptive_meets_its_tolerance_and_spends_more_for_a_tighter_one(x_start):
    calls_for, errors_for = {}, {}
    for rtol, atol in ((0.05, 0.0078), (1e-5, 1e-8)):
        denoise, calls = counting(gaussian_denoiser())
        progress = []
        x = impl.sample_dpm_adaptive(denoise, x_start, 0.05, 10.0, no_noise,
                                     lambda done, x, d, progress=progress: progress.append(done), rtol=rtol, atol=atol)
        calls_for[rtol], errors_for[rtol] = len(calls), float((x - exact_solution(x_start, 10.0, 0.05)).abs().max())
        assert progress == sorted(progress) and progress[-1] == 1.0
    assert calls_for[1e-5] > calls_for[0.05] and errors_for[1e-5] < 1e-3 < errors_for[0.05] < 0.2


def test_dpm_adaptive_gives_up_with_an_error_rather_than_looping():
    generator = torch.Generator().manual_seed(0)

    def erratic(x, sigma):  # nothing a step size can make agree
        return torch.randn(x.shape, generator=generator, dtype=x.dtype) * 100

    with pytest.raises(impl.AdaptiveStepError, match="DPM adaptive"):
        impl.sample_dpm_adaptive(erratic, torch.zeros(16, dtype=torch.float64), 0.05, 10.0, no_noise, ignore_step,
                                 max_attempts=30)


@pytest.mark.parametrize("solver", ["dpmpp_2s_ancestral", "dpm_fast", "dpm_adaptive"])
def test_ancestral_solvers_draw_the_datas_distribution(solver):
    x = torch.randn(20000, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 10.0
    noise = seeded_noise(3)
    if solver == "dpmpp_2s_ancestral":
        x = impl.sample_dpmpp_2s_ancestral(gaussian_denoiser(), x, karras_list(30, 0.03, 10.0), noise,
                                           ignore_step, eta=1.0)
    elif solver == "dpm_fast":
        x = impl.sample_dpm_fast(gaussian_denoiser(), x, 0.03, 10.0, 30, noise, ignore_step, eta=1.0)
    else:
        x = impl.sample_dpm_adaptive(gaussian_denoiser(), x, 0.03, 10.0, noise, ignore_step, eta=1.0)
    assert abs(float(x.mean()) - MEAN) < 0.03 and abs(float(x.std()) - STD) < 0.03, (float(x.mean()), float(x.std()))


def test_heun_steps_agree_with_diffusers_heun_scheduler(x_start):
    denoise = gaussian_denoiser()
    scheduler = HeunDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                      use_karras_sigmas=True)
    scheduler.set_timesteps(6)
    x = x_start * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(x, t)
        sigma = float(scheduler.sigmas[scheduler.step_index])
        unscaled = model_input * math.sqrt(sigma ** 2 + 1)
        x = scheduler.step((unscaled - denoise(unscaled, sigma)) / sigma, t, x).prev_sample
    sigmas = sorted({float(s) for s in scheduler.sigmas}, reverse=True)
    ours = impl.sample_restart(denoise, x_start * sigmas[0], list(zip(sigmas[:-1], sigmas[1:])), no_noise,
                               ignore_step)
    assert torch.allclose(ours, x.to(ours.dtype), atol=1e-4), float((ours - x).abs().max())


def test_ddim_cfgpp_keeps_the_guided_estimate_and_goes_on_with_the_unconditional_noise():
    x = torch.full((4,), 3.0, dtype=torch.float64)
    guided, uncond = torch.full_like(x, 0.5), torch.full_like(x, -0.5)
    seen = []
    out = impl.sample_ddim_cfgpp(lambda x, sigma: (guided, uncond), x, [2.0, 1.0], no_noise,
                                 lambda done, x, d: seen.append(done))
    assert torch.allclose(out, guided + (x - uncond) * (1.0 / 2.0)) and seen == [1.0]
    out = impl.sample_ddim_cfgpp(lambda x, sigma: (guided, uncond), x, [2.0, 1.0], lambda like: torch.ones_like(like),
                                 ignore_step, eta=1.0)
    down, up = impl.ancestral_step(2.0, 1.0, 1.0)
    assert torch.allclose(out, guided + (x - uncond) * (down / 2.0) + up)


def test_ddim_cfgpp_with_one_denoiser_is_ddim_and_converges(x_start):
    def solve(x, sigmas):
        denoise = gaussian_denoiser()
        return impl.sample_ddim_cfgpp(lambda x, s: (denoise(x, s), denoise(x, s)), x, sigmas, no_noise, ignore_step)

    assert 0.8 < observed_order(solve, x_start) < 1.3  # DDIM is Euler's method in sigma: first order


def test_restart_goes_back_up_with_fresh_noise_and_ends_where_the_schedule_does():
    sigmas = karras_list(12, 0.03, 14.6)
    plan = impl.restart_plan(sigmas, restart_steps=3, restarts=2)
    low = min(range(len(sigmas) - 1), key=lambda j: abs(sigmas[j] - 0.1))
    assert len(plan) == 12 + 2 * 3 and plan[-1][1] == 0.0
    restart_from = [i for i in range(1, len(plan)) if plan[i][0] > plan[i - 1][1]]
    assert len(restart_from) == 2 and all(math.isclose(plan[i - 1][1], sigmas[low]) for i in restart_from)
    noise_asked = []

    def noise(like):
        noise_asked.append(1)
        return torch.zeros_like(like)

    denoise, calls = counting(gaussian_denoiser())
    impl.sample_restart(denoise, torch.zeros(4, dtype=torch.float64), plan, noise, ignore_step)
    assert len(noise_asked) == 2 and len(calls) == 2 * len(plan) - 1  # Heun: two calls a step, one into 0


def test_dpm_2_is_second_order_and_its_step_into_0_is_eulers(x_start):
    def solve(x, sigmas):
        return impl.sample_dpm_2(gaussian_denoiser(), x, sigmas, no_noise, ignore_step)

    assert 1.7 < observed_order(solve, x_start) < 2.5
    denoise, calls = counting(gaussian_denoiser())
    last = impl.sample_dpm_2(denoise, x_start, [0.5, 0.0], no_noise, ignore_step)
    assert calls == [0.5] and torch.allclose(last, gaussian_denoiser()(x_start, 0.5))


def test_dpm_2_ancestral_draws_the_datas_distribution():
    x = torch.randn(20000, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 10.0
    x = impl.sample_dpm_2(gaussian_denoiser(), x, karras_list(30, 0.03, 10.0), seeded_noise(3), ignore_step,
                          eta=1.0)
    assert abs(float(x.mean()) - MEAN) < 0.03 and abs(float(x.std()) - STD) < 0.03


def test_ddim_agrees_with_diffusers_ddim_scheduler(x_start):
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                              set_alpha_to_one=True, clip_sample=False)
    scheduler.set_timesteps(10)
    alphas = scheduler.alphas_cumprod.double()
    sigmas = [math.sqrt((1 - float(alphas[t])) / float(alphas[t])) for t in scheduler.timesteps] + [0.0]
    x = x_start * sigmas[0] * math.sqrt(alphas[scheduler.timesteps[0]])  # diffusers' x is ours * sqrt(alpha)
    denoise = gaussian_denoiser()
    for t in scheduler.timesteps:
        alpha = float(alphas[t])
        sigma = math.sqrt((1 - alpha) / alpha)
        x_k = x / math.sqrt(alpha)
        x = scheduler.step((x_k - denoise(x_k, sigma)) / sigma, t, x).prev_sample
    ours = impl.sample_ddim(denoise, x_start * sigmas[0], sigmas, no_noise, ignore_step)
    assert torch.allclose(ours, x, atol=1e-6), float((ours - x).abs().max())


def test_plms_converges_faster_than_ddim(x_start):
    def plms(x, sigmas):
        return impl.sample_plms(gaussian_denoiser(), x, sigmas, no_noise, ignore_step)

    def ddim(x, sigmas):
        return impl.sample_ddim(gaussian_denoiser(), x, sigmas, no_noise, ignore_step)

    assert observed_order(plms, x_start, 16) > 1.8 and error_of(plms, x_start, 16) < error_of(ddim, x_start, 16) / 10


def test_churn_raises_the_noise_level_within_its_range_only():
    churn = impl.Churn(s_churn=1.0, s_tmin=0.5, s_tmax=5.0, s_noise=1.0)
    x = torch.zeros(3, dtype=torch.float64)
    raised, sigma_hat = churn.apply(x, 2.0, 4, lambda like: torch.ones_like(like))
    assert math.isclose(sigma_hat, 2.0 * 1.25) and torch.allclose(raised, torch.full_like(x, math.sqrt(2.5 ** 2 - 4)))
    assert churn.apply(x, 6.0, 4, no_noise) == (x, 6.0) and churn.apply(x, 0.4, 4, no_noise) == (x, 0.4)
    assert math.isclose(impl.Churn(s_churn=100.0).apply(x, 2.0, 4, torch.zeros_like)[1], 2.0 * math.sqrt(2))
    assert impl.Churn().apply(x, 2.0, 4, no_noise) == (x, 2.0)  # no churn: no noise drawn


def test_euler_ancestral_draws_the_datas_distribution_and_without_eta_is_eulers_method(x_start):
    x = torch.randn(20000, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 10.0
    x = impl.sample_euler_ancestral(gaussian_denoiser(), x, karras_list(60, 0.03, 10.0), seeded_noise(3),
                                    ignore_step)
    assert abs(float(x.mean()) - MEAN) < 0.03 and abs(float(x.std()) - STD) < 0.03

    def solve(x, sigmas):
        return impl.sample_euler_ancestral(gaussian_denoiser(), x, sigmas, no_noise, ignore_step, eta=0.0)

    assert 0.8 < observed_order(solve, x_start) < 1.3


def test_dpmpp_sde_agrees_with_diffusers_dpm_solver_sde_scheduler_on_the_same_brownian_noise():
    from diffusers import DPMSolverSDEScheduler
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

    x_start = torch.randn(1, 64, generator=torch.Generator().manual_seed(1)) * 10 + MEAN
    denoise = gaussian_denoiser()
    scheduler = DPMSolverSDEScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                      use_karras_sigmas=True, noise_sampler_seed=[5])
    scheduler.set_timesteps(5)
    x = x_start * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(x, t)
        sigma = float(scheduler.sigmas[scheduler.step_index] if scheduler.state_in_first_order
                      else scheduler.mid_point_sigma)
        unscaled = model_input * math.sqrt(sigma ** 2 + 1)
        x = scheduler.step((unscaled - denoise(unscaled, sigma)) / sigma, t, x).prev_sample
    sigmas = sorted({float(s) for s in scheduler.sigmas}, reverse=True)
    tree = BrownianTreeNoiseSampler(x_start, min(s for s in sigmas if s > 0), max(sigmas), [5])
    ours = impl.sample_dpmpp_sde(denoise, x_start * sigmas[0], sigmas, tree, ignore_step)
    assert torch.allclose(ours, x, atol=1e-3), float((ours - x).abs().max())
    without_noise = impl.sample_dpmpp_sde(denoise, x_start * sigmas[0], sigmas, tree, ignore_step, eta=0.0)
    assert not torch.allclose(ours, without_noise, atol=1e-3)


@pytest.mark.parametrize("eta", [1.2, 5.0])
def test_an_eta_above_1_leaves_no_deterministic_part_and_does_not_fail(eta):
    x = torch.randn(256, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 10
    fast = impl.sample_dpm_fast(gaussian_denoiser(), x, 0.03, 10.0, 12, seeded_noise(5), ignore_step, eta=eta)
    adaptive = impl.sample_dpm_adaptive(gaussian_denoiser(), x, 0.03, 10.0, seeded_noise(6), ignore_step, eta=eta)
    assert torch.isfinite(fast).all() and torch.isfinite(adaptive).all()
    assert impl.ancestral_step(2.0, 1.0, eta) == (0.0, 1.0)


def test_a_leading_spaced_config_still_gets_the_schedule_over_the_models_whole_range():
    from diffusers import DDIMScheduler

    leading = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                            timestep_spacing="leading", steps_offset=1)
    table = sd_schedulers.model_sigmas(leading)
    for label in ("Karras", "Exponential", "Beta"):
        sigmas = sd_schedulers.sigma_list(sd_schedulers.find_scheduler(label), 20, leading)
        assert math.isclose(float(sigmas[0]), float(table[-1]), rel_tol=1e-4), label
