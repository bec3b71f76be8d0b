"""Solvers that step along noise levels sigma, with x = clean latent + sigma * noise (k-diffusion's formulation): the
samplers A1111 has that no diffusers scheduler implements. Each takes
  denoise(x, sigma) -> the model's estimate of the clean latent,
  noise(x) -> standard normal noise shaped like x,
  on_step(progress, x, denoised) after each step, progress the fraction of the sampling done (0..1],
and returns the last x."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from modules.sd_schedulers import karras

Denoise = Callable[[torch.Tensor, float], torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]
OnStep = Callable[[float, torch.Tensor, torch.Tensor], None]


def ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """(sigma_down, sigma_up): a deterministic step to sigma_down followed by sigma_up of fresh noise arrives at
    sigma_next with a share eta of the noise renewed (eta 0: none, a plain ODE step)."""
    if not eta or sigma_next == 0:
        return sigma_next, 0.0
    sigma_up = min(sigma_next, eta * math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
    return math.sqrt(sigma_next ** 2 - sigma_up ** 2), sigma_up


def _pairs(sigmas) -> list[tuple[float, float]]:
    values = [float(s) for s in sigmas]
    return list(zip(values[:-1], values[1:]))


def heun_step(denoise: Denoise, x: torch.Tensor, sigma: float, sigma_next: float):
    """(x at sigma_next, denoised at sigma): the trapezoid rule on dx/dsigma = (x - denoised) / sigma; Euler into 0."""
    denoised = denoise(x, sigma)
    slope = (x - denoised) / sigma
    x_euler = x + slope * (sigma_next - sigma)
    if sigma_next == 0:
        return x_euler, denoised
    slope_next = (x_euler - denoise(x_euler, sigma_next)) / sigma_next
    return x + (slope + slope_next) / 2 * (sigma_next - sigma), denoised


@dataclass(frozen=True)
class Churn:
    """Karras et al. 2022's stochastic sampling: within [s_tmin, s_tmax] each step first raises the noise level by
    a factor 1 + min(s_churn / steps, sqrt 2 - 1) with fresh noise scaled by s_noise."""
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = math.inf
    s_noise: float = 1.0

    def apply(self, x, sigma: float, steps: int, noise: Noise) -> tuple[torch.Tensor, float]:
        """(x raised to the churned noise level, that level)."""
        gamma = min(self.s_churn / steps, math.sqrt(2) - 1) if self.s_tmin <= sigma <= self.s_tmax else 0.0
        if gamma <= 0:
            return x, sigma
        sigma_hat = sigma * (gamma + 1)
        return x + noise(x) * self.s_noise * math.sqrt(sigma_hat ** 2 - sigma ** 2), sigma_hat


def sample_euler_ancestral(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, eta: float = 1.0):
    """Euler's method with each step ancestral: to sigma_down, then sigma_up of fresh noise."""
    steps = _pairs(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        denoised = denoise(x, sigma)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        x = x + (x - denoised) / sigma * (sigma_down - sigma)
        if sigma_up:
            x = x + noise(x) * sigma_up
        on_step((i + 1) / len(steps), x, denoised)
    return x


def sample_heun(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, churn: Churn = Churn()):
    """Heun's method (Karras et al. 2022), with their churn."""
    steps = _pairs(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        x, sigma_hat = churn.apply(x, sigma, len(steps), noise)
        x, denoised = heun_step(denoise, x, sigma_hat, sigma_next)
        on_step((i + 1) / len(steps), x, denoised)
    return x


def sample_dpm_2(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, eta: float = 0.0,
                 churn: Churn = Churn()):
    """DPM-Solver-2 as Karras et al. 2022 use it: Euler to the noise level halfway in log sigma, then the whole step
    with the slope found there; eta > 0: each step ancestral (DPM2 a, its fresh noise scaled by churn.s_noise), else
    with churn. The step into 0 is a plain Euler step."""
    steps = _pairs(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        if not eta:
            x, sigma = churn.apply(x, sigma, len(steps), noise)
        denoised = denoise(x, sigma)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        slope = (x - denoised) / sigma
        if sigma_down == 0:
            x = x + slope * (sigma_down - sigma)
        else:
            sigma_mid = math.sqrt(sigma * sigma_down)
            x_mid = x + slope * (sigma_mid - sigma)
            x = x + (x_mid - denoise(x_mid, sigma_mid)) / sigma_mid * (sigma_down - sigma)
        if sigma_up:
            x = x + noise(x) * churn.s_noise * sigma_up
        on_step((i + 1) / len(steps), x, denoised)
    return x


def sample_plms(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    """PLMS (Liu et al. 2022): DDIM steps (Euler in sigma) on the noise predicted by up to four steps' predictions
    combined as the Adams-Bashforth rule does; the first step takes Heun's average of its two ends."""
    steps = _pairs(sigmas)
    history: list[torch.Tensor] = []
    for i, (sigma, sigma_next) in enumerate(steps):
        denoised = denoise(x, sigma)
        eps = (x - denoised) / sigma
        if not history and sigma_next > 0:
            x_euler = x + eps * (sigma_next - sigma)
            combined = (eps + (x_euler - denoise(x_euler, sigma_next)) / sigma_next) / 2
        else:
            recent = [eps, *history[::-1]]
            weights = {1: [1], 2: [3 / 2, -1 / 2], 3: [23 / 12, -16 / 12, 5 / 12],
                       4: [55 / 24, -59 / 24, 37 / 24, -9 / 24]}[min(len(recent), 4)]
            combined = sum(w * e for w, e in zip(weights, recent))
        history = [*history[-2:], eps]
        x = x + combined * (sigma_next - sigma)
        on_step((i + 1) / len(steps), x, denoised)
    return x


def sample_ddim(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, eta: float = 0.0):
    """DDIM (Song et al. 2021) in sigma: Euler's step, with eta > 0 DDIM's share of fresh noise."""
    return sample_ddim_cfgpp(lambda x, sigma: (denoised := denoise(x, sigma), denoised), x, sigmas, noise, on_step, eta)


def sample_dpmpp_2s_ancestral(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, eta: float = 1.0,
                              s_noise: float = 1.0):
    """DPM-Solver++(2S) (Lu et al. 2022), single-step second order with its midpoint halfway in log sigma, each step
    ancestral: to sigma_down, then sigma_up of fresh noise. The step into 0 is a plain Euler step."""
    steps = _pairs(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        denoised = denoise(x, sigma)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        if sigma_down == 0:
            x = denoised
        else:
            sigma_mid = math.sqrt(sigma * sigma_down)
            x_mid = (sigma_mid / sigma) * x + (1 - sigma_mid / sigma) * denoised
            x = (sigma_down / sigma) * x + (1 - sigma_down / sigma) * denoise(x_mid, sigma_mid)
        if sigma_up:
            x = x + noise(x) * s_noise * sigma_up
        on_step((i + 1) / len(steps), x, denoised)
    return x


def sample_dpmpp_sde(denoise: Denoise, x, sigmas, brownian: Callable[[float, float], torch.Tensor],
                     on_step: OnStep, eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5):
    """DPM-Solver++ (stochastic, Lu et al. 2022) as k-diffusion runs it: two stages a step, the first to a point r of
    the way in log sigma, each an ancestral step whose fresh noise is the Brownian increment brownian(sigma,
    sigma_next) over that interval (so that the noise depends on the interval, not on the steps taken)."""
    steps = _pairs(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        denoised = denoise(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            sigma_s = sigma ** (1 - r) * sigma_next ** r
            down, up = ancestral_step(sigma, sigma_s, eta)
            x_s = (down / sigma) * x + (1 - down / sigma) * denoised
            if up:
                x_s = x_s + brownian(sigma, sigma_s) * s_noise * up
            denoised_s = denoise(x_s, sigma_s)
            down, up = ancestral_step(sigma, sigma_next, eta)
            blended = (1 - 1 / (2 * r)) * denoised + 1 / (2 * r) * denoised_s
            x = (down / sigma) * x + (1 - down / sigma) * blended
            if up:
                x = x + brownian(sigma, sigma_next) * s_noise * up
        on_step((i + 1) / len(steps), x, denoised)
    return x


def sample_ddim_cfgpp(denoise_pair: Callable[[torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]], x, sigmas,
                      noise: Noise, on_step: OnStep, eta: float = 0.0):
    """DDIM with CFG++ (Chung et al. 2024): denoise_pair(x, sigma) -> (guided denoised, unconditional denoised); the
    guided estimate is kept and the noise going on comes from the unconditional one. eta > 0: DDIM's fresh noise."""
    steps = _pairs(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        denoised, uncond_denoised = denoise_pair(x, sigma)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        x = denoised + (x - uncond_denoised) * (sigma_down / sigma)
        if sigma_up:
            x = x + noise(x) * sigma_up
        on_step((i + 1) / len(steps), x, denoised)
    return x


def restart_plan(sigmas, restart_at: float = 0.1, restart_to: float = 2.0, restart_steps: int = 9,
                 restarts: int = 1) -> list[tuple[float, float]]:
    """The (sigma, sigma_next) steps of the Restart sampler (Xu et al. 2023): the schedule's steps, and where it
    passes the level nearest restart_at, `restarts` times back up to the level nearest restart_to and down again in
    restart_steps Karras-spaced steps."""
    values = [float(s) for s in sigmas]
    plan = []
    low = min(range(len(values) - 1), key=lambda j: abs(values[j] - restart_at))
    high = min(range(len(values) - 1), key=lambda j: abs(values[j] - restart_to))
    segment = _pairs(karras(restart_steps + 1, values[low], values[high]).tolist()[:-1]) if high < low else []
    for i, pair in enumerate(_pairs(values)):
        plan.append(pair)
        if i + 1 == low:
            plan.extend(segment * restarts)
    return plan


def sample_restart(denoise: Denoise, x, plan: list[tuple[float, float]], noise: Noise, on_step: OnStep,
                   s_noise: float = 1.0):
    """Heun steps along restart_plan's steps; where a step starts above where the last one ended, fresh noise first
    brings x up to that level."""
    reached = None
    for i, (sigma, sigma_next) in enumerate(plan):
        if reached is not None and reached < sigma:
            x = x + noise(x) * s_noise * math.sqrt(sigma ** 2 - reached ** 2)
        x, denoised = heun_step(denoise, x, sigma, sigma_next)
        reached = sigma_next
        on_step((i + 1) / len(plan), x, denoised)
    return x


class _DpmSolver:
    """DPM-Solver (Lu et al. 2022) in t = -log sigma on the noise prediction eps = (x - denoised) / sigma, with the
    predictions of one step cached by name."""

    def __init__(self, denoise: Denoise):
        self.denoise = denoise
        self.cache: dict[str, torch.Tensor] = {}

    @staticmethod
    def sigma(t: float) -> float:
        return math.exp(-t)

    def eps(self, name: str, x: torch.Tensor, t: float) -> torch.Tensor:
        if name not in self.cache:
            sigma = self.sigma(t)
            self.cache[name] = (x - self.denoise(x, sigma)) / sigma
        return self.cache[name]

    def step_1(self, x, t, t_next, eps):
        return x - self.sigma(t_next) * math.expm1(t_next - t) * eps

    def step_2(self, x, t, t_next, eps, r1=0.5):
        h = t_next - t
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * math.expm1(r1 * h) * eps
        eps_r1 = self.eps(f"eps_r{r1}", u1, s1)
        return x - self.sigma(t_next) * math.expm1(h) * (eps + (eps_r1 - eps) / (2 * r1))

    def step_3(self, x, t, t_next, eps, r1=1 / 3, r2=2 / 3):
        h = t_next - t
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - self.sigma(s1) * math.expm1(r1 * h) * eps
        eps_r1 = self.eps(f"eps_r{r1}", u1, s1)
        u2 = (x - self.sigma(s2) * math.expm1(r2 * h) * eps
              - self.sigma(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * (eps_r1 - eps))
        eps_r2 = self.eps(f"eps_r{r2}", u2, s2)
        return (x - self.sigma(t_next) * math.expm1(h) * eps
                - self.sigma(t_next) / r2 * (math.expm1(h) / h - 1) * (eps_r2 - eps))

    def step(self, order: int, x, t, t_next, eps):
        return {1: self.step_1, 2: self.step_2, 3: self.step_3}[order](x, t, t_next, eps)

    def ancestral_target(self, t: float, t_next: float, t_end: float, eta: float) -> tuple[float, float]:
        """(t to step to, sigma of the noise to add after) so that x ends at t_next with eta of its noise renewed."""
        if not eta:
            return t_next, 0.0
        sigma_down, _ = ancestral_step(self.sigma(t), self.sigma(t_next), eta)
        t_down = t_end if sigma_down == 0 else min(t_end, -math.log(sigma_down))
        return t_down, math.sqrt(max(self.sigma(t_next) ** 2 - self.sigma(t_down) ** 2, 0.0))


def dpm_fast_orders(evaluations: int) -> list[int]:
    """DPM-Solver-fast's split of a budget of model evaluations into steps of order 3, ending on lower orders."""
    if evaluations % 3 == 0:
        return [3] * (evaluations // 3 - 1) + [2, 1]
    return [3] * (evaluations // 3) + [evaluations % 3]


def sample_dpm_fast(denoise: Denoise, x, sigma_min: float, sigma_max: float, evaluations: int, noise: Noise,
                    on_step: OnStep, eta: float = 0.0, s_noise: float = 1.0):
    """DPM-Solver-fast: `evaluations` model calls in steps of order 3 (then 2, 1) evenly spaced in log sigma, from
    sigma_max down to sigma_min (where x is returned, not denoised further)."""
    solver = _DpmSolver(denoise)
    orders = dpm_fast_orders(evaluations)
    t_start, t_end = -math.log(sigma_max), -math.log(sigma_min)
    times = torch.linspace(t_start, t_end, len(orders) + 1, dtype=torch.float64).tolist()
    for i, order in enumerate(orders):
        solver.cache = {}
        t, t_next = times[i], times[i + 1]
        t_down, sigma_up = solver.ancestral_target(t, t_next, t_end, eta)
        eps = solver.eps("eps", x, t)
        denoised = x - solver.sigma(t) * eps
        x = solver.step(order, x, t, t_down, eps)
        if sigma_up:
            x = x + noise(x) * s_noise * sigma_up
        on_step((i + 1) / len(orders), x, denoised)
    return x


class AdaptiveStepError(RuntimeError):
    """DPM adaptive needed more steps than it may take."""


def sample_dpm_adaptive(denoise: Denoise, x, sigma_min: float, sigma_max: float, noise: Noise, on_step: OnStep,
                        eta: float = 0.0, s_noise: float = 1.0, order: int = 3, rtol: float = 0.05,
                        atol: float = 0.0078, h_init: float = 0.05, accept_safety: float = 0.81,
                        max_attempts: int = 1000):
    """DPM-Solver with adaptive step size: each step is tried with orders `order` and `order` - 1 sharing their model
    calls; the difference, against atol + rtol * the size of x, decides whether the step is kept and how long the
    next one is (an integral controller, its factor softened by 1 + atan(factor - 1), as in Jolicoeur-Martineau
    et al. 2021)."""
    solver = _DpmSolver(denoise)
    t_start, t_end = -math.log(sigma_max), -math.log(sigma_min)
    s, h, x_prev = t_start, h_init, x
    controller_order = 1.5 if eta else order  # the added noise makes the steps' error behave as of a lower order
    solver.cache = {}
    for _ in range(max_attempts):
        if s >= t_end - 1e-5:
            return x
        t = min(t_end, s + h)
        t_down, sigma_up = solver.ancestral_target(s, t, t_end, eta)
        eps = solver.eps("eps", x, s)
        denoised = x - solver.sigma(s) * eps
        low = solver.step(order - 1, x, s, t_down, eps) if order == 2 else solver.step_2(x, s, t_down, eps, r1=1 / 3)
        high = solver.step(order, x, s, t_down, eps)
        tolerance = torch.maximum(torch.full_like(low, atol), rtol * torch.maximum(low.abs(), x_prev.abs()))
        error = float(((low - high) / tolerance).square().mean().sqrt())
        if not math.isfinite(error):
            factor, accepted = 1.0, True  # nothing to steer by: go on, and let the NaN check report the result
        else:
            factor = (1 / max(error, 1e-8)) ** (1 / controller_order)
            factor = 1 + math.atan(factor - 1)
            accepted = factor >= accept_safety
        if accepted:
            x_prev = low
            x = high + (noise(high) * s_noise * sigma_up if sigma_up else 0)
            s = t
            solver.cache = {}
            on_step(1.0 if s >= t_end - 1e-5 else (s - t_start) / (t_end - t_start), x, denoised)
        else:
            solver.cache = {"eps": eps}
        h *= factor
    if s >= t_end - 1e-5:
        return x
    raise AdaptiveStepError(f"DPM adaptive did not reach the end of sampling in {max_attempts} steps; "
                            "try another sampler")
