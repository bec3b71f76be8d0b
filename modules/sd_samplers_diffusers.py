"""Our denoising loop over diffusers schedulers: batched CFG, per-step conditioning, callbacks, img2img, masks."""

import inspect
import math

import torch

from modules import prompt_parser, refiner, script_callbacks, sd_schedulers
from modules.opts_snapshot import options_for


class InterruptedException(BaseException):
    """Raised from a step callback to end sampling early; the sampler returns the last latent."""


def _step_kwargs(scheduler, p, generators, eta) -> dict:
    params = inspect.signature(scheduler.step).parameters
    values = {
        "generator": generators or None,
        "s_churn": getattr(p, "s_churn", 0.0),
        "s_tmin": getattr(p, "s_tmin", 0.0),
        "s_tmax": getattr(p, "s_tmax", 0.0) or float("inf"),
        "s_noise": getattr(p, "s_noise", 1.0),
        "eta": eta(p) if "eta" in params else None,
    }
    return {key: value for key, value in values.items() if key in params}


def setup_img2img_steps(p, steps=None, fix_steps=False) -> tuple[int, int]:
    """(scheduler steps, steps actually run) for img2img, as A1111 counts them."""
    if fix_steps or steps is not None:
        if p.denoising_strength <= 0:
            return 0, 0  # nothing to denoise: the input comes back unchanged
        requested = steps or p.steps
        return int(requested / min(p.denoising_strength, 0.999)), requested - 1
    return p.steps, int(min(p.denoising_strength, 0.999) * p.steps)


class DiffusersSampler:
    """A1111's sampler interface (sample / sample_img2img) driving a diffusers scheduler with our own loop."""

    def __init__(self, sampler_data, model):
        self.config = sampler_data
        self.model = model
        self.scheduler_label = "Automatic"
        self.callback = None
        self.last_latent = None
        self.stop_at = None
        self.schedule = None
        self.last_noise_uncond = None
        self._conds_in_effect = None

    def eta(self, p) -> float:
        """The request's eta, else the option for this kind of sampler; written to the infotext unless A1111's default."""
        _, label, default = self.config.eta_setting
        eta = self.config.eta(getattr(p, "eta", None), options_for(p))
        if eta != default:
            p.extra_generation_params[label] = eta
        return eta

    def make_scheduler(self, seeds=None):
        settings = dict(self.model.scheduler_config)
        settings.update(self.config.scheduler_config)
        schedule = sd_schedulers.find_scheduler(self.scheduler_label)
        if schedule is None or schedule.name == "automatic":
            schedule = sd_schedulers.find_scheduler(self.config.default_schedule or "automatic")
        if self.config.follows_by_setting(schedule):
            settings.update(schedule.config)  # else the schedule comes as a sigma list (set_timesteps)
        self.schedule = schedule
        scheduler = self.config.scheduler_class.from_config(settings)
        if seeds is not None and hasattr(scheduler, "noise_sampler_seed"):
            scheduler.noise_sampler_seed = list(seeds)
        return scheduler

    @property
    def takes_sigma_list(self) -> bool:
        return bool(self.config.options.get("sigma_list"))

    def discards_penultimate(self, p) -> bool:
        """Whether the schedule leaves out its next-to-last noise level: the sampler's own rule, or for the samplers
        A1111 steps along sigmas (not its timestep samplers) the option always_discard_next_to_last_sigma, then
        written to the infotext. Only samplers that take a sigma list can."""
        if not self.takes_sigma_list:
            return False
        if self.config.options.get("discard_next_to_last_sigma"):
            return True
        if self.config.timestep_sampler or not options_for(p).always_discard_next_to_last_sigma:
            return False
        p.extra_generation_params["Discard penultimate sigma"] = True
        return True

    def noise_range(self, p, scheduler) -> sd_schedulers.NoiseRange | None:
        """The options sigma_min, sigma_max (where not the model's own) and rho (where not the schedule's) for the
        schedules that take them, each written to the infotext as A1111 does; None: the schedule as it is. Only
        samplers that take a sigma list can."""
        if not self.takes_sigma_list or self.schedule.ranged is None:
            return None
        options, table = options_for(p), sd_schedulers.model_sigmas(scheduler)
        sigma_min = options.sigma_min if options.sigma_min and options.sigma_min != float(table[0]) else 0.0
        sigma_max = options.sigma_max if options.sigma_max and options.sigma_max != float(table[-1]) else 0.0
        rho = options.rho if options.rho and self.schedule.default_rho != -1 and \
            options.rho != self.schedule.default_rho else 0.0
        if not (sigma_min or sigma_max or rho):
            return None
        for label, value in (("Schedule min sigma", sigma_min), ("Schedule max sigma", sigma_max),
                             ("Schedule rho", rho)):
            if value:
                p.extra_generation_params[label] = value
        return sd_schedulers.NoiseRange(sigma_min, sigma_max, rho)

    def set_timesteps(self, scheduler, steps: int, device, p=None) -> None:
        """The scheduler's steps; the schedule's sigma list instead for a schedule it has no setting for, or where
        p's generation leaves out the penultimate level or sets other ends (discards_penultimate, noise_range)."""
        discard = p is not None and self.discards_penultimate(p)
        noise_range = self.noise_range(p, scheduler) if p is not None else None
        scheduler.set_timesteps(steps, device=device)
        if discard or noise_range or not self.config.follows_by_setting(self.schedule):
            sd_schedulers.use_sigma_list(scheduler, self.schedule, steps, device, self.model.is_sdxl, discard,
                                         noise_range)

    def sample(self, p, x, conditioning, unconditional_conditioning, steps=None, image_conditioning=None):
        steps = steps or p.steps
        scheduler = self.make_scheduler(getattr(p, "seeds", None))
        self.set_timesteps(scheduler, steps, x.device, p)
        if hasattr(scheduler, "set_begin_index"):  # else its first step looks the timestep up: a host sync
            scheduler.set_begin_index(0)
        latents = x * scheduler.init_noise_sigma
        return self.run_loop(p, scheduler, scheduler.timesteps, latents, conditioning, unconditional_conditioning,
                             steps, image_conditioning)

    def sample_img2img(self, p, x, noise, conditioning, unconditional_conditioning, steps=None,
                       image_conditioning=None):
        total_steps, steps_to_run = setup_img2img_steps(p, steps, getattr(p, "img2img_fix_steps", False))
        if steps_to_run <= 0:
            return x
        scheduler = self.make_scheduler(getattr(p, "seeds", None))
        self.set_timesteps(scheduler, total_steps, x.device, p)
        start = (total_steps - steps_to_run) * scheduler.order
        timesteps = scheduler.timesteps[start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        latents = scheduler.add_noise(x, noise, timesteps[:1])
        return self.run_loop(p, scheduler, timesteps, latents, conditioning, unconditional_conditioning,
                             steps_to_run, image_conditioning, init_latent=x, noise=noise)

    def run_loop(self, p, scheduler, timesteps, latents, cond, uncond, steps, image_conditioning=None,
                 init_latent=None, noise=None):
        step_kwargs = _step_kwargs(scheduler, p, getattr(getattr(p, "rng", None), "generators", None), self.eta)
        mask = getattr(p, "mask", None)
        nmask = getattr(p, "nmask", None)
        calls = len(timesteps)
        self.last_latent = latents
        try:
            for i, t in enumerate(timesteps):
                step = min(steps - 1, math.floor(i * steps / calls))
                if refiner.switch_if_due(p, self, t, step, steps):
                    cond, uncond = p.get_conds()
                    if not self.model.is_inpainting:  # its UNet takes the latent alone
                        image_conditioning = None
                    scheduler.register_to_config(  # what its UNet predicts (noise or v)
                        prediction_type=self.model.scheduler_config.get("prediction_type", "epsilon"))
                model_input = scheduler.scale_model_input(latents, t)
                noise_pred = self.cfg_denoise(p, model_input, image_conditioning, t, cond, uncond, step, steps)
                latents = scheduler.step(noise_pred, t, latents, **step_kwargs).prev_sample
                if mask is not None and init_latent is not None:
                    latents = self.blend_mask(scheduler, latents, init_latent, noise, timesteps, i, mask, nmask)
                self.last_latent = latents
                if self.callback is not None:
                    self.callback(step, steps, latents)
        except InterruptedException:
            return self.last_latent
        return latents

    @staticmethod
    def blend_mask(scheduler, latents, init_latent, noise, timesteps, index, mask, nmask):
        """Keeps the unmasked area on the (re-noised) original latent after each step."""
        if index + 1 < len(timesteps):
            original = scheduler.add_noise(init_latent, noise, timesteps[index + 1:index + 2])
        else:
            original = init_latent
        return original * mask + latents * nmask

    def conds_at(self, cond, uncond, step):
        """(cond batch, uncond batch, both joined for one UNet batch or None) in effect at step. While the prompts'
        schedules stay on the same entries these are the last step's tensors again, unless an on_cfg_denoiser callback
        is registered (it may change them in place, for its step alone: it gets new ones every step)."""
        cond_rows, uncond_rows = prompt_parser.conds_in_effect(cond, step), prompt_parser.conds_in_effect(uncond, step)
        if script_callbacks.callback_map["callbacks_cfg_denoiser"]:
            return prompt_parser.cond_batch(cond_rows), prompt_parser.cond_batch(uncond_rows), None
        in_effect = [*cond_rows, None, *uncond_rows]
        if self._conds_in_effect is None or not _same_objects(self._conds_in_effect[0], in_effect):
            text_cond, text_uncond = prompt_parser.cond_batch(cond_rows), prompt_parser.cond_batch(uncond_rows)
            self._conds_in_effect = in_effect, (text_cond, text_uncond, self.model.join_conds(text_cond, text_uncond))
        return self._conds_in_effect[1]

    def cfg_denoise(self, p, x, image_conditioning, t, cond, uncond, step, steps, cfg_scale=None):
        """One guided prediction (at p.cfg_scale unless cfg_scale is given), with A1111's callbacks: on_cfg_denoiser
        may change the inputs, on_cfg_denoised the UNet's outputs (cond batch, then uncond batch, concatenated),
        on_cfg_after_cfg the guided result. The unconditional output stays in last_noise_uncond."""
        text_cond, text_uncond, joined = self.conds_at(cond, uncond, step)
        params = script_callbacks.CFGDenoiserParams(x, image_conditioning, t, step, steps, text_cond, text_uncond,
                                                    self)
        script_callbacks.cfg_denoiser_callback(params)
        model_input = params.x
        if params.image_cond is not None:
            model_input = torch.cat([model_input, params.image_cond.to(model_input.dtype)], dim=1)
        out_cond, out_uncond = self.model.predict_cond_uncond(model_input, t, params.text_cond, params.text_uncond,
                                                              joined)
        if script_callbacks.callback_map["callbacks_cfg_denoised"]:
            denoised = script_callbacks.CFGDenoisedParams(torch.cat([out_cond, out_uncond]), step, steps, self.model)
            script_callbacks.cfg_denoised_callback(denoised)
            out_cond, out_uncond = denoised.x.chunk(2)
        self.last_noise_uncond = out_uncond
        guided = self.model.combine_cfg(out_cond, out_uncond, p.cfg_scale if cfg_scale is None else cfg_scale)
        after = script_callbacks.AfterCFGCallbackParams(guided, step, steps)
        script_callbacks.cfg_after_cfg_callback(after)
        return after.x


def _same_objects(first: list, second: list) -> bool:
    return len(first) == len(second) and all(a is b for a, b in zip(first, second))
