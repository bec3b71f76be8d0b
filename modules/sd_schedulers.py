"""A1111 schedule types, each expressed as diffusers scheduler settings."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scheduler:
    name: str
    label: str
    config: dict = field(default_factory=dict)
    default_rho: float = -1
    need_inner_model: bool = False
    aliases: list[str] | None = None


schedulers = [
    Scheduler("automatic", "Automatic"),
    Scheduler("uniform", "Uniform", {"timestep_spacing": "linspace"}),
    Scheduler("karras", "Karras", {"use_karras_sigmas": True}, default_rho=7.0),
    Scheduler("exponential", "Exponential", {"use_exponential_sigmas": True}),
    Scheduler("beta", "Beta", {"use_beta_sigmas": True}),
    Scheduler("sgm_uniform", "SGM Uniform", {"timestep_spacing": "trailing"}),
]
schedulers_map = {**{s.name: s for s in schedulers}, **{s.label: s for s in schedulers}}


def find_scheduler(name: str | None) -> Scheduler | None:
    if name is None:
        return None
    return schedulers_map.get(name) or schedulers_map.get(name.lower())


def supports(scheduler: Scheduler, scheduler_init_params) -> bool:
    """Whether a diffusers scheduler class (given its __init__ parameter names) can follow this schedule."""
    return all(key in scheduler_init_params for key in scheduler.config)
