"""A1111 sampler names mapped onto diffusers schedulers, and name resolution ("DPM++ 2M Karras")."""

import inspect
from dataclasses import dataclass, field

import diffusers

from modules import sd_schedulers

TIMESTEP_SAMPLERS = ("DDIM", "DDIM CFG++", "PLMS", "UniPC")


@dataclass(frozen=True)
class SamplerData:
    name: str
    scheduler_class: type
    scheduler_config: dict
    aliases: list[str]
    options: dict = field(default_factory=dict)
    only_schedules: tuple[str, ...] | None = None
    solver: str | None = None
    """A solver of sd_samplers_sigma (scheduler_class then only gives the noise levels), or None: scheduler_class
    steps."""
    list_solver: str | None = None
    """A solver of sd_samplers_sigma that runs this sampler where scheduler_class cannot: along the schedules it has
    neither a setting for nor takes as a sigma list, or with an eta other than fixed_eta."""
    fixed_eta: float | None = None
    """The eta scheduler_class always samples with, where it has no eta setting."""
    own_schedule: str = ""
    """What "Automatic" means when A1111 lists no default schedule for the sampler but steps it along its own."""

    @property
    def timestep_sampler(self) -> bool:
        """One A1111 runs on timesteps: its eta is "Eta for DDIM", and img2img runs the strength's share of steps."""
        return self.name in TIMESTEP_SAMPLERS

    @property
    def default_schedule(self) -> str:
        """What "Automatic" means for this sampler (A1111's default schedule), or "" for the model's own."""
        return self.options.get("scheduler", self.own_schedule)

    @property
    def eta_setting(self) -> tuple[str, str, float]:
        """(option, infotext label, A1111's default) of this sampler's eta."""
        return ("eta_ddim", "Eta DDIM", 0.0) if self.timestep_sampler else ("eta_ancestral", "Eta", 1.0)

    def eta(self, requested: float | None, options) -> float:
        """The eta a generation samples with: the one requested, else this sampler's option."""
        return float(requested if requested is not None else getattr(options, self.eta_setting[0]))

    def follows_by_setting(self, schedule: sd_schedulers.Scheduler) -> bool:
        """Whether scheduler_class follows the schedule by its own settings."""
        return sd_schedulers.takes_config(schedule, inspect.signature(self.scheduler_class.__init__).parameters)

    def needs_list_solver(self, schedule: sd_schedulers.Scheduler, eta: float | None, reshaped: bool) -> bool:
        """Whether list_solver runs this sampler: for a schedule its scheduler can follow neither by a setting nor as a
        sigma list, another eta than fixed_eta, or (reshaped) options that change the noise levels where its scheduler
        does not take a sigma list."""
        if self.solver is not None or self.list_solver is None:
            return False
        takes_list = bool(self.options.get("sigma_list"))
        follows = takes_list or self.follows_by_setting(schedule)
        other_eta = self.fixed_eta is not None and eta is not None and eta != self.fixed_eta
        return not follows or other_eta or (reshaped and not takes_list)

    def constructor(self, model, scheduler: str | None = None, eta: float | None = None, reshaped: bool = False):
        schedule = sd_schedulers.find_scheduler(scheduler or "Automatic") or sd_schedulers.find_scheduler("Automatic")
        if schedule.name == "automatic":
            schedule = sd_schedulers.find_scheduler(self.default_schedule or "automatic")
        solver = self.list_solver if self.needs_list_solver(schedule, eta, reshaped) else self.solver
        if solver is not None:
            from modules.sd_samplers_sigma import SigmaSampler

            return SigmaSampler(self, model, solver)
        from modules.sd_samplers_diffusers import DiffusersSampler

        return DiffusersSampler(self, model)

    def supported_schedules(self) -> list[sd_schedulers.Scheduler]:
        params = inspect.signature(self.scheduler_class.__init__).parameters
        takes_sigma_list = bool(self.options.get("sigma_list") or self.list_solver)
        return [s for s in sd_schedulers.schedulers if sd_schedulers.supports(s, params, takes_sigma_list)
                and (self.only_schedules is None or s.name in self.only_schedules)]


def _sampler(name, cls_name, aliases, config=None, only_schedules=None, list_solver=None, fixed_eta=None,
             **options) -> SamplerData:
    return SamplerData(name, getattr(diffusers, cls_name), config or {}, aliases, options, only_schedules,
                       list_solver=list_solver, fixed_eta=fixed_eta)


def _solver(name, solver, aliases, own_schedule="", only_schedules=None, **options) -> SamplerData:
    """A sampler of our own solver, on the noise levels of Euler's scheduler (which follows every schedule type)."""
    return SamplerData(name, diffusers.EulerDiscreteScheduler, {"timestep_spacing": "linspace"}, aliases,
                       {**options, "sigma_list": True}, only_schedules, solver=solver, own_schedule=own_schedule)


_multistep_sde = {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}
all_samplers = [
    _sampler("DPM++ 2M", "DPMSolverMultistepScheduler", ["k_dpmpp_2m"],
             {"algorithm_type": "dpmsolver++", "solver_order": 2}, scheduler="karras", sigma_list=True),
    _sampler("DPM++ SDE", "DPMSolverSDEScheduler", ["k_dpmpp_sde"], list_solver="dpmpp_sde", fixed_eta=1.0,
             scheduler="karras", second_order=True, brownian_noise=True),
    _sampler("DPM++ 2M SDE", "DPMSolverMultistepScheduler", ["k_dpmpp_2m_sde"], _multistep_sde,
             scheduler="exponential", sigma_list=True),
    _sampler("DPM++ 2M SDE Heun", "DPMSolverMultistepScheduler", ["k_dpmpp_2m_sde_heun"],
             {**_multistep_sde, "solver_type": "heun"}, scheduler="exponential", sigma_list=True),
    _solver("DPM++ 2S a", "dpmpp_2s_ancestral", ["k_dpmpp_2s_a"], scheduler="karras", uses_ensd=True,
            second_order=True),
    _sampler("DPM++ 3M SDE", "DPMSolverMultistepScheduler", ["k_dpmpp_3m_sde"],
             {**_multistep_sde, "solver_order": 3}, scheduler="exponential", discard_next_to_last_sigma=True,
             sigma_list=True),
    _sampler("Euler a", "EulerAncestralDiscreteScheduler", ["k_euler_a", "k_euler_ancestral"],
             {"timestep_spacing": "linspace"}, list_solver="euler_ancestral", fixed_eta=1.0, uses_ensd=True,
             sigma_list=True),
    _sampler("Euler", "EulerDiscreteScheduler", ["k_euler"], {"timestep_spacing": "linspace"}, sigma_list=True),
    _sampler("LMS", "LMSDiscreteScheduler", ["k_lms"], {"timestep_spacing": "linspace"}, sigma_list=True),
    _solver("Heun", "heun", ["k_heun"], second_order=True),
    _solver("DPM2", "dpm_2", ["k_dpm_2"], scheduler="karras", discard_next_to_last_sigma=True, second_order=True),
    _solver("DPM2 a", "dpm_2_ancestral", ["k_dpm_2_a"], scheduler="karras", discard_next_to_last_sigma=True,
            uses_ensd=True, second_order=True),
    # DPM fast and DPM adaptive take only the ends of the schedule, the same under every schedule type
    _solver("DPM fast", "dpm_fast", ["k_dpm_fast"], only_schedules=("automatic",), uses_ensd=True),
    _solver("DPM adaptive", "dpm_adaptive", ["k_dpm_ad"], only_schedules=("automatic",), uses_ensd=True),
    _solver("Restart", "restart", ["restart"], scheduler="karras", second_order=True),
    _sampler("DDIM", "DDIMScheduler", ["ddim"], {"set_alpha_to_one": False}, list_solver="ddim"),
    _solver("DDIM CFG++", "ddim_cfgpp", ["ddim_cfgpp"], own_schedule="ddim"),
    _sampler("PLMS", "PNDMScheduler", ["plms"], {"skip_prk_steps": True}, list_solver="plms"),
    _sampler("UniPC", "UniPCMultistepScheduler", ["unipc"], sigma_list=True),
    # LCMScheduler keeps its distilled timesteps and ignores timestep_spacing: no other schedule would take effect.
    _sampler("LCM", "LCMScheduler", ["k_lcm", "lcm"], uses_ensd=True, only_schedules=("automatic",)),
]
samplers = all_samplers
samplers_for_img2img = all_samplers
samplers_map = {}
for _data in all_samplers:
    samplers_map[_data.name.lower()] = _data.name
    for _alias in _data.aliases:
        samplers_map[_alias.lower()] = _data.name


def visible_sampler_names() -> list[str]:
    return [s.name for s in samplers]


def find_sampler_config(name: str | None) -> SamplerData | None:
    if name is None:
        return None
    canonical = samplers_map.get(name.lower())
    return next((s for s in all_samplers if s.name == canonical), None)


def split_sampler_name(name: str) -> tuple[str, str | None]:
    """"DPM++ 2M Karras" -> ("DPM++ 2M", "Karras"); a name with no schedule suffix comes back unchanged."""
    if find_sampler_config(name) is not None:
        return name, None
    for scheduler in sd_schedulers.schedulers:
        for suffix in (scheduler.label, scheduler.name):
            if name.lower().endswith(" " + suffix.lower()):
                base = name[: -len(suffix) - 1]
                if find_sampler_config(base) is not None:
                    return base, scheduler.label
    return name, None


def get_sampler_and_scheduler(sampler_name: str | None, scheduler_name: str | None) -> tuple[str, str]:
    """Canonical (sampler name, schedule label); raises ValueError naming what cannot be run."""
    base, suffix_schedule = split_sampler_name(sampler_name or "Euler a")
    sampler = find_sampler_config(base)
    if sampler is None:
        raise ValueError(f"sampler not found: {sampler_name!r}")
    requested = scheduler_name
    if requested in (None, "", "Automatic", "automatic") and suffix_schedule:
        requested = suffix_schedule
    schedule = sd_schedulers.find_scheduler(requested or "Automatic")
    if schedule is None:
        raise ValueError(f"scheduler not found: {scheduler_name!r}")
    if schedule not in sampler.supported_schedules():
        raise ValueError(f"schedule type {schedule.label!r} is not available for sampler {sampler.name!r}")
    return sampler.name, schedule.label


def create_sampler(name: str, model, scheduler: str | None = None, eta: float | None = None, reshaped: bool = False):
    """The sampler `name` for the schedule type `scheduler` (default Automatic), the eta it will sample with and
    whether options reshape the noise levels (discard penultimate sigma, sigma min/max, rho)."""
    sampler = find_sampler_config(name)
    if sampler is None:
        raise ValueError(f"sampler not found: {name!r}")
    created = sampler.constructor(model, scheduler, eta, reshaped)
    created.scheduler_label = scheduler or "Automatic"
    return created
