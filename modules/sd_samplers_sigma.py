"""A1111's sampler interface over the solvers of sd_samplers_sigma_impl: the noise levels come from the sampler's
schedule type (a diffusers scheduler's sigmas, or a sigma list), the model's guided prediction becomes a denoised
estimate, and progress, live preview, interrupt, masks and the refiner work as in the diffusers loop. As in A1111,
the ancestral ones take eta ("Eta", or "Eta DDIM" for the DDIM family) and Heun and DPM2 the churn settings."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

from modules import refiner, sd_schedulers
from modules import sd_samplers_sigma_impl as impl
from modules.sd_samplers_diffusers import DiffusersSampler, InterruptedException, setup_img2img_steps


@dataclass
class SolverRun:
    """What a solver is given for one sampling: x already noised to sigmas[0]; steps: the sampling steps asked for."""
    denoise: impl.Denoise
    denoise_pair: Callable
    x: torch.Tensor
    sigmas: list[float]
    steps: int
    noise: impl.Noise
    on_step: impl.OnStep
    eta: float
    churn: impl.Churn
    brownian: Callable[[float, float], torch.Tensor]


def restart_plan(run: SolverRun) -> list[tuple[float, float]]:
    """A1111's Restart: from 20 steps on, 9 of them (a quarter from 36 on, restarting twice) go back from noise level
    0.1 to 2, and the others follow a Karras schedule between the schedule's ends (the schedule type then matters
    only through its ends); fewer steps follow the schedule without restarting."""
    if run.steps < 20:
        return list(zip(run.sigmas[:-1], run.sigmas[1:]))
    restart_steps, restarts = (run.steps // 4, 2) if run.steps >= 36 else (9, 1)
    sigmas = sd_schedulers.karras(run.steps - restart_steps * restarts, run.sigmas[-2], run.sigmas[0]).tolist()
    return impl.restart_plan(sigmas, restart_steps=restart_steps, restarts=restarts)


SOLVERS: dict[str, Callable[[SolverRun], torch.Tensor]] = {
    "dpmpp_2s_ancestral": lambda run: impl.sample_dpmpp_2s_ancestral(
        run.denoise, run.x, run.sigmas, run.noise, run.on_step, eta=run.eta, s_noise=run.churn.s_noise),
    "dpm_fast": lambda run: impl.sample_dpm_fast(
        run.denoise, run.x, run.sigmas[-2], run.sigmas[0], len(run.sigmas) - 1, run.noise, run.on_step, eta=run.eta,
        s_noise=run.churn.s_noise),
    "dpm_adaptive": lambda run: impl.sample_dpm_adaptive(
        run.denoise, run.x, run.sigmas[-2], run.sigmas[0], run.noise, run.on_step, eta=run.eta),
    "restart": lambda run: impl.sample_restart(run.denoise, run.x, restart_plan(run), run.noise, run.on_step),
    "euler_ancestral": lambda run: impl.sample_euler_ancestral(run.denoise, run.x, run.sigmas, run.noise,
                                                               run.on_step, eta=run.eta),
    "heun": lambda run: impl.sample_heun(run.denoise, run.x, run.sigmas, run.noise, run.on_step, churn=run.churn),
    "dpm_2": lambda run: impl.sample_dpm_2(run.denoise, run.x, run.sigmas, run.noise, run.on_step, churn=run.churn),
    "dpm_2_ancestral": lambda run: impl.sample_dpm_2(run.denoise, run.x, run.sigmas, run.noise, run.on_step,
                                                     eta=run.eta, churn=impl.Churn(s_noise=run.churn.s_noise)),
    "ddim": lambda run: impl.sample_ddim(run.denoise, run.x, run.sigmas, run.noise, run.on_step, eta=run.eta),
    "plms": lambda run: impl.sample_plms(run.denoise, run.x, run.sigmas, run.noise, run.on_step),
    "dpmpp_sde": lambda run: impl.sample_dpmpp_sde(run.denoise, run.x, run.sigmas, run.brownian, run.on_step,
                                                   eta=run.eta, s_noise=run.churn.s_noise),
    "ddim_cfgpp": lambda run: impl.sample_ddim_cfgpp(run.denoise_pair, run.x, run.sigmas, run.noise, run.on_step,
                                                     eta=run.eta),
}

TAKES_ETA = {"euler_ancestral", "dpmpp_2s_ancestral", "dpm_fast", "dpm_adaptive", "dpm_2_ancestral", "dpmpp_sde",
             "ddim", "ddim_cfgpp"}
"""The solvers with an eta (only theirs is resolved and written to the infotext, as A1111 does)."""

CFGPP_SCALE = 12.5
"""DDIM CFG++ takes the CFG scale divided by this (A1111's mapping of 0..12.5 onto the method's 0..1)."""


def _noise_source(p) -> impl.Noise:
    """Each image's own generator goes on (A1111: image i's noise as a generation of seeds[i] alone would draw it)."""
    generators = getattr(getattr(p, "rng", None), "generators", None)

    def noise(like: torch.Tensor) -> torch.Tensor:
        if not generators or len(generators) != like.shape[0]:
            return torch.randn_like(like)
        return torch.stack([torch.randn(like.shape[1:], generator=g, device=g.device) for g in generators]).to(like)

    return noise


def _brownian_source(p, x: torch.Tensor, sigmas: list[float]) -> Callable[[float, float], torch.Tensor]:
    """A Brownian tree per image over the schedule's noise levels, seeded by the image's seed (as A1111's DPM++ SDE),
    made when first asked."""
    trees = []

    def increment(sigma: float, sigma_next: float) -> torch.Tensor:
        if not trees:
            positive = [s for s in sigmas if s > 0]
            trees.append(BrownianTreeNoiseSampler(x, min(positive), max(positive), getattr(p, "seeds", None)))
        return trees[0](sigma, sigma_next)

    return increment


def churn_of(p) -> impl.Churn:
    """The request's s_churn, s_tmin, s_tmax (0: no upper end) and s_noise, as A1111 hands them to Heun and DPM2 (and
    s_noise to DPM++ 2S a, DPM2 a, DPM fast and DPM++ SDE)."""
    def value(name, default):
        given = getattr(p, name, None)
        return default if given is None else float(given)
    return impl.Churn(value("s_churn", 0.0), value("s_tmin", 0.0), value("s_tmax", 0.0) or math.inf,
                      value("s_noise", 1.0))


def to_denoised(model_output: torch.Tensor, x: torch.Tensor, sigma: float, parameterization: str) -> torch.Tensor:
    """The clean latent a UNet output (noise, or v for v-prediction models) implies for x at noise level sigma."""
    if parameterization == "v":
        return x / (sigma ** 2 + 1) - model_output * (sigma / math.sqrt(sigma ** 2 + 1))
    return x - model_output * sigma


class SigmaSampler(DiffusersSampler):
    def __init__(self, sampler_data, model, solver: str):
        super().__init__(sampler_data, model)
        self.solver = solver

    takes_sigma_list = True

    def sigmas(self, p, steps: int) -> tuple[list[float], torch.Tensor]:
        """(the descending noise levels of `steps` steps ending with 0, the model's noise level per timestep)."""
        scheduler = self.make_scheduler()
        sigmas = sd_schedulers.sigma_list(self.schedule, steps, scheduler, self.model.is_sdxl,
                                          self.discards_penultimate(p), self.noise_range(p, scheduler))
        return sigmas.tolist(), sd_schedulers.model_sigmas(scheduler)

    def sample(self, p, x, conditioning, unconditional_conditioning, steps=None, image_conditioning=None):
        steps = steps or p.steps
        sigmas, table = self.sigmas(p, steps)
        return self.solve(p, x * sigmas[0], sigmas, table, conditioning, unconditional_conditioning,
                          image_conditioning)

    def sample_img2img(self, p, x, noise, conditioning, unconditional_conditioning, steps=None,
                       image_conditioning=None):
        total_steps, steps_to_run = setup_img2img_steps(p, steps, getattr(p, "img2img_fix_steps", False))
        if steps_to_run <= 0:
            return x
        sigmas, table = self.sigmas(p, total_steps)
        # A1111's k-diffusion samplers run one step more than the strength's share; its timestep samplers do not,
        # nor here the samplers this solver stands in for (each sampler runs as many steps whatever its schedule)
        extra_step = 0 if self.config.timestep_sampler or self.solver != self.config.solver else 1
        sigmas = sigmas[total_steps - steps_to_run - extra_step:]
        return self.solve(p, x + noise * sigmas[0], sigmas, table, conditioning, unconditional_conditioning,
                          image_conditioning, init_latent=x)

    def solve(self, p, x, sigmas, table, cond, uncond, image_conditioning, init_latent=None):
        steps = len(sigmas) - 1
        state = {"cond": cond, "uncond": uncond, "image_conditioning": image_conditioning, "done": 0}
        mask, nmask = getattr(p, "mask", None), getattr(p, "nmask", None)

        def guided(x, sigma, cfg_scale=None) -> torch.Tensor:
            t = sd_schedulers.sigma_to_t(torch.tensor(sigma), table).to(x.device)
            step = min(steps - 1, state["done"])  # a model call belongs to the step under way
            nearest_timestep = torch.argmin((table - sigma).abs())  # A1111's refiner switch: the nearest noise level
            if refiner.switch_if_due(p, self, nearest_timestep, step, steps):
                state["cond"], state["uncond"] = p.get_conds()
                if not self.model.is_inpainting:
                    state["image_conditioning"] = None
            model_input = x / math.sqrt(sigma ** 2 + 1)
            output = self.cfg_denoise(p, model_input, state["image_conditioning"], t, state["cond"], state["uncond"],
                                      step, steps, cfg_scale)
            return self.keep_unmasked(to_denoised(output, x, sigma, self.model.parameterization), init_latent,
                                      mask, nmask)

        def denoise_pair(x, sigma):
            denoised = guided(x, sigma, p.cfg_scale / CFGPP_SCALE)
            uncond = to_denoised(self.last_noise_uncond, x, sigma, self.model.parameterization)
            return denoised, self.keep_unmasked(uncond, init_latent, mask, nmask)

        def on_step(progress: float, x, denoised):
            self.last_latent = denoised
            done = min(steps, math.floor(progress * steps + 1e-6))
            while state["done"] < done:
                if self.callback is not None:
                    self.callback(state["done"], steps, denoised)
                state["done"] += 1

        eta = self.eta(p) if self.solver in TAKES_ETA else 0.0
        run = SolverRun(guided, denoise_pair, x, sigmas, steps, _noise_source(p), on_step, eta, churn_of(p),
                        _brownian_source(p, x, sigmas))
        self.last_latent = x
        try:
            return SOLVERS[self.solver](run)
        except InterruptedException:
            return self.last_latent

    @staticmethod
    def keep_unmasked(denoised, init_latent, mask, nmask):
        """Inpainting: outside the mask the estimate is the original latent (A1111 blends the denoised estimate)."""
        if mask is None or init_latent is None:
            return denoised
        return init_latent * mask + denoised * nmask
