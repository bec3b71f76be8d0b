"""A1111 schedule types: diffusers scheduler settings, or a sigma list made from the model's noise levels (the
schedules k-diffusion and A1111 compute themselves), which only the samplers that step along a sigma list take."""

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


def polyexponential(steps: int, model_sigmas: torch.Tensor, rho: float = 1.0) -> torch.Tensor:
    ramp = torch.linspace(1, 0, steps, dtype=torch.float64) ** rho
    low, high = model_sigmas[0].double().log(), model_sigmas[-1].double().log()
    return _with_zero((ramp * (high - low) + low).exp()).float()


def kl_optimal(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Equal steps in arctan(sigma) from the highest noise level to the lowest (A1111's: it ends there, not at 0)."""
    low, high = model_sigmas[0].double().arctan(), model_sigmas[-1].double().arctan()
    fraction = torch.arange(steps + 1, dtype=torch.float64) / steps
    return (fraction * low + (1 - fraction) * high).tan().float()


def simple(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Every len/steps-th of the model's noise levels, from the highest."""
    stride = len(model_sigmas) / steps
    return _with_zero(torch.stack([model_sigmas[-(1 + int(x * stride))] for x in range(steps)]))


def normal(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Equal steps in training timestep from the highest noise level to the lowest."""
    start, end = sigma_to_t(model_sigmas[-1], model_sigmas), sigma_to_t(model_sigmas[0], model_sigmas)
    return _with_zero(t_to_sigma(torch.linspace(float(start), float(end), steps), model_sigmas))


def ddim_uniform(steps: int, model_sigmas: torch.Tensor) -> torch.Tensor:
    """Every len//steps-th noise level counted from the second lowest, highest first (A1111's DDIM schedule)."""
    stride = max(len(model_sigmas) // steps, 1)
    return _with_zero(model_sigmas[1::stride].flip(0))


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
    Scheduler("karras", "Karras", {"use_karras_sigmas": True}, default_rho=7.0),
    Scheduler("exponential", "Exponential", {"use_exponential_sigmas": True}),
    Scheduler("polyexponential", "Polyexponential", default_rho=1.0, sigmas=polyexponential),
    Scheduler("sgm_uniform", "SGM Uniform", {"timestep_spacing": "trailing"}, need_inner_model=True),
    Scheduler("kl_optimal", "KL Optimal", sigmas=kl_optimal),
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
               discard_penultimate: bool = False) -> torch.Tensor:
    """The descending noise levels of the schedule for a diffusers scheduler's model, 0 (or the end) last: the
    schedule's own list, or the sigmas Euler's scheduler takes for the schedule's settings. discard_penultimate:
    made for one step more, without the level before the last (A1111's "discard next to last sigma")."""
    count = steps + 1 if discard_penultimate else steps
    if schedule.sigmas is not None:
        sigmas = (schedule.sdxl_sigmas if is_sdxl and schedule.sdxl_sigmas else schedule.sigmas)(
            count, model_sigmas(scheduler))
    else:
        euler = EulerDiscreteScheduler.from_config({**scheduler.config, **schedule.config})
        euler.set_timesteps(count)
        sigmas = euler.sigmas.float()
    return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard_penultimate else sigmas


def use_sigma_list(scheduler, schedule: Scheduler, steps: int, device, is_sdxl: bool = False,
                   discard_penultimate: bool = False) -> None:
    """After set_timesteps: the scheduler steps along the schedule's sigma list instead of its own."""
    table = model_sigmas(scheduler)
    sigmas = sigma_list(schedule, steps, scheduler, is_sdxl, discard_penultimate)
    scheduler.sigmas = sigmas.to(device)
    scheduler.timesteps = sigma_to_t(sigmas[:-1], table).to(device)
    scheduler.num_inference_steps = len(sigmas) - 1
