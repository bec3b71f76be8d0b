"""A1111 schedule types: diffusers scheduler settings, or a sigma list made from the model's noise levels (the
schedules k-diffusion and A1111 compute themselves), which only the samplers that step along a sigma list take."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from diffusers import EulerDiscreteScheduler


@dataclass(frozen=True)
class Scheduler:
    name: str
    label: str
    config: dict = field(default_factory=dict)
    default_rho: float = -1
    need_inner_model: bool = False
    aliases: list[str] | None = None
    sigmas: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    """sigmas(steps, the model's noise levels ascending) -> the descending noise levels to step through, the last
    one where sampling ends; None: the diffusers settings in config."""
    sdxl_sigmas: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    """What sigmas is for SDXL models, where the schedule has its own for them."""
    ranged: Callable[[int, float, float, float], torch.Tensor] | None = None
    """ranged(steps, sigma_min, sigma_max, rho): the schedule between other ends (the schedules A1111 lets the options
    sigma_min, sigma_max and rho change)."""


class CrossedNoiseRange(ValueError):
    """sigma_min at or above sigma_max: the request's (or the settings') fault, answered 422 naming the option."""
    status_code = 422
    field = "sigma_min"


@dataclass(frozen=True)
class NoiseRange:
    """A1111's options sigma_min, sigma_max, rho; 0: the model's lowest / highest noise level, the schedule's rho."""
    sigma_min: float = 0.0
    sigma_max: float = 0.0
    rho: float = 0.0


def sigma_to_t(sigma: torch.Tensor, model_sigmas: torch.Tensor) -> torch.Tensor:
    """The (fractional) training timestep of a noise level: interpolated in log sigma, as k-diffusion does."""
    log_sigmas = model_sigmas.log()
    log_sigma = sigma.clamp(min=model_sigmas[0]).log()
    low = (log_sigma[..., None] >= log_sigmas).sum(dim=-1).sub(1).clamp(max=len(log_sigmas) - 2)
    fraction = ((log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[low + 1])).clamp(0, 1)
    return (1 - fraction) * low + fraction * (low + 1)


def t_to_sigma(t: torch.Tensor, model_sigmas: torch.Tensor) -> torch.Tensor:
    low, high = t.floor().long(), t.ceil().long()
    fraction = t - low
    return ((1 - fraction) * model_sigmas[low].log() + fraction * model_sigmas[high].log()).exp()


def _with_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Noise levels evenly spaced in sigma ** (1 / rho) (Karras et al. 2022), then 0."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _with_zero((high + ramp * (low - high)) ** rho).float()


def exponential(steps: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """Noise levels evenly spaced in log sigma, then 0."""
    return _with_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps, dtype=torch.float64).exp()
                      ).float()


def polyexponential_range(steps: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    ramp = torch.linspace(1, 0, steps, dtype=torch.float64) ** rho
    low, high = math.log(sigma_min), math.log(sigma_max)
    return _with_zero((ramp * (high - low) + low).exp()).float()


def polyexponential(steps: int, model_sigmas: torch.Tensor, rho: float = 1.0) -> torch.Tensor:
    return polyexponential_range(steps, float(model_sigmas[0]), float(model_sigmas[-1]), rho)


def kl_optimal_range(steps: int, sigma_min: float, sigma_max: float, rho: float = -1) -> torch.Tensor:
    """Equal steps in arctan(sigma) from the highest noise level to the lowest (A1111's: it ends there, not at 0)."""
    fraction = torch.arange(steps + 1, dtype=torch.float64) / steps
    return (fraction * math.atan(sigma_min) + (1 - fraction) * math.atan(sigma_max)).tan().float()


def kl_optimal(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    return kl_optimal_range(steps, float(model_sigmas[0]), float(model_sigmas[-1]))


def simple(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Every len/steps-th of the model's noise levels, from the highest."""
    stride = len(model_sigmas) / steps
    return _with_zero(torch.stack([model_sigmas[-(1 + int(x * stride))] for x in range(steps)]))


def normal(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Equal steps in training timestep from the highest noise level to the lowest."""
    start, end = sigma_to_t(model_sigmas[-1], model_sigmas), sigma_to_t(model_sigmas[0], model_sigmas)
    return _with_zero(t_to_sigma(torch.linspace(float(start), float(end), steps), model_sigmas))


def ddim_uniform(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Every len//steps-th noise level counted from the second lowest, highest first (A1111's DDIM schedule), the
    highest `steps` of them (A1111's list has one more where len is no multiple of steps)."""
    stride = max(len(model_sigmas) // steps, 1)
    return _with_zero(model_sigmas[1::stride][-steps:].flip(0))


AYS_SD = [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029]
AYS_SDXL = [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029]
"""Align Your Steps (Sabour et al. 2024): NVIDIA's optimised 10-step noise levels, as A1111 has them (SDXL's for SDXL,
SD 1.5's for every other model)."""


def _log_linear(levels: list[float], steps: int) -> torch.Tensor:
    """levels (descending) stretched to `steps` noise levels, linear in log sigma; 0 appended."""
    if steps == len(levels):
        return _with_zero(torch.tensor(levels, dtype=torch.float64)).float()
    ascending = torch.tensor(levels[::-1], dtype=torch.float64).log()
    positions = torch.linspace(0, len(levels) - 1, steps, dtype=torch.float64)
    low = positions.floor().long().clamp(max=len(levels) - 2)
    fraction = positions - low
    values = ((1 - fraction) * ascending[low] + fraction * ascending[low + 1]).exp()
    return _with_zero(values.flip(0)).float()


def align_your_steps(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    return _log_linear(AYS_SD, steps)


def align_your_steps_sdxl(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    return _log_linear(AYS_SDXL, steps)


schedulers = [  # A1111's order
    Scheduler("automatic", "Automatic"),
    Scheduler("uniform", "Uniform", {"timestep_spacing": "linspace"}),
    Scheduler("karras", "Karras", {"use_karras_sigmas": True}, default_rho=7.0, ranged=karras),
    Scheduler("exponential", "Exponential", {"use_exponential_sigmas": True}, ranged=exponential),
    Scheduler("polyexponential", "Polyexponential", default_rho=1.0, sigmas=polyexponential,
              ranged=polyexponential_range),
    Scheduler("sgm_uniform", "SGM Uniform", {"timestep_spacing": "trailing"}, need_inner_model=True),
    Scheduler("kl_optimal", "KL Optimal", sigmas=kl_optimal, ranged=kl_optimal_range),
    Scheduler("align_your_steps", "Align Your Steps", sigmas=align_your_steps, sdxl_sigmas=align_your_steps_sdxl),
    Scheduler("simple", "Simple", need_inner_model=True, sigmas=simple),
    Scheduler("normal", "Normal", need_inner_model=True, sigmas=normal),
    Scheduler("ddim", "DDIM", need_inner_model=True, sigmas=ddim_uniform),
    Scheduler("beta", "Beta", {"use_beta_sigmas": True}),
]
schedulers_map = {**{s.name: s for s in schedulers}, **{s.label: s for s in schedulers}}


def find_scheduler(name: str | None) -> Scheduler | None:
    if name is None:
        return None
    return schedulers_map.get(name) or schedulers_map.get(name.lower())


def takes_config(scheduler: Scheduler, scheduler_init_params) -> bool:
    """Whether a diffusers scheduler class (given its __init__ parameter names) follows this schedule by its settings."""
    return scheduler.sigmas is None and all(key in scheduler_init_params for key in scheduler.config)


def supports(scheduler: Scheduler, scheduler_init_params, takes_sigma_list: bool = False) -> bool:
    """Whether a diffusers scheduler class (given its __init__ parameter names; takes_sigma_list: it steps along its
    sigmas one model call at a time) can follow this schedule: by its settings, or along its noise levels as a list."""
    return takes_config(scheduler, scheduler_init_params) or takes_sigma_list


def model_sigmas(scheduler) -> torch.Tensor:
    """The model's noise levels (ascending, one per training timestep) of a diffusers scheduler's config."""
    alphas_cumprod = scheduler.alphas_cumprod.double()
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt().float()


def sigma_list(schedule: Scheduler, steps: int, scheduler, is_sdxl: bool = False,
               discard_penultimate: bool = False, noise_range: NoiseRange | None = None) -> torch.Tensor:
    """The descending noise levels of the schedule for a diffusers scheduler's model, 0 (or the end) last: the
    schedule's own list, or the sigmas Euler's scheduler takes for the schedule's settings. discard_penultimate:
    made for one step more, without the level before the last (A1111's "discard next to last sigma"); noise_range:
    other ends or rho, for the schedules that take them."""
    count = steps + 1 if discard_penultimate else steps
    if schedule.ranged is not None:  # between the model's own ends (k-diffusion's), or the options'
        noise_range = noise_range or NoiseRange()
        table = model_sigmas(scheduler)
        low, high = noise_range.sigma_min or float(table[0]), noise_range.sigma_max or float(table[-1])
        if low >= high:
            raise CrossedNoiseRange(f"options sigma_min and sigma_max: the schedule would run from {high} down to "
                                    f"{low}; sigma_min must be below sigma_max")
        sigmas = schedule.ranged(count, low, high, noise_range.rho or schedule.default_rho)
    elif schedule.sigmas is not None:
        sigmas = (schedule.sdxl_sigmas if is_sdxl and schedule.sdxl_sigmas else schedule.sigmas)(
            count, model_sigmas(scheduler))
    else:  # spaced over all the model's timesteps unless the schedule says how (a "leading" config would cut the top)
        euler = EulerDiscreteScheduler.from_config({**scheduler.config, "timestep_spacing": "linspace",
                                                    **schedule.config})
        euler.set_timesteps(count)
        sigmas = euler.sigmas.float()
    return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard_penultimate else sigmas


def use_sigma_list(scheduler, schedule: Scheduler, steps: int, device, is_sdxl: bool = False,
                   discard_penultimate: bool = False, noise_range: NoiseRange | None = None) -> None:
    """After set_timesteps: the scheduler steps along the schedule's sigma list instead of its own."""
    table = model_sigmas(scheduler)
    sigmas = sigma_list(schedule, steps, scheduler, is_sdxl, discard_penultimate, noise_range)
    scheduler.sigmas = sigmas.to(scheduler.sigmas.device)  # diffusers' place for them: the CPU (no sync per step)
    scheduler.timesteps = sigma_to_t(sigmas[:-1], table).to(device)
    scheduler.num_inference_steps = len(sigmas) - 1
