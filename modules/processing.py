"""The generation pipeline with A1111's classes, fields and step order (global options as A1111 has them)."""

import contextlib
import contextvars
import copy
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps
from tqdm import tqdm

from modules import (
    brownian_noise,
    devices,
    extra_networks,
    images,
    infotext_utils,
    lowvram,
    masking,
    nan_check,
    prompt_parser,
    refiner,
    rng,
    runtime_utils,
    scripts,
    sd_hijack,
    sd_models,
    sd_samplers,
    sd_vae,
    shared,
    upscaler,
)
from modules.background_saving import BackgroundSaver
from modules.masking import create_binary_mask  # noqa: F401 (A1111 name)
from modules.opts_snapshot import OptsSnapshot, create_opts_snapshot, options_for
from modules.prompt_seed_prep import fix_seed, get_fixed_seed, prepare_prompt_seed_state  # noqa: F401 (A1111 names)
from modules.runtime.context import RuntimeContext, create_runtime_context
from modules.runtime.runner import ProcessingRequest, ProcessingRunner
from modules.sd_model_diffusers import MicroConditioning
from modules.sd_samplers_diffusers import InterruptedException
from modules.shared import opts, state
from modules.textual_inversion import textual_inversion
from modules.version import program_version

log = logging.getLogger(__name__)

opt_C = 4
opt_f = 8
_console_progress_bar: contextvars.ContextVar[tqdm | None] = contextvars.ContextVar("console progress bar",
                                                                                  default=None)
brownian_noise.install(lambda: options_for().randn_source)  # a job's own options in its context


def _extra_networks_key(p, network_data: dict | None) -> tuple | None:
    """The active extra networks with their arguments: conditioning made under a LoRA is never reused without it."""
    if p.disable_extra_networks or not network_data:
        return None
    return tuple((name, tuple(tuple(params.items) for params in params_list))
                 for name, params_list in sorted(network_data.items()))


def micro_conditioning(options) -> MicroConditioning:
    return MicroConditioning(int(options.sdxl_crop_top), int(options.sdxl_crop_left),
                             float(options.sdxl_refiner_high_aesthetic_score),
                             float(options.sdxl_refiner_low_aesthetic_score))


def _cond_cache_key(p, prompts, steps, hires_steps, network_data):
    model = shared.sd_model
    options = options_for(p)
    return (tuple(prompts), steps, hires_steps, getattr(model, "sd_model_checkpoint", None), id(model),
            options.CLIP_stop_at_last_layers, options.emphasis, options.comma_padding_backtrack,
            options.use_old_scheduling, p.width, p.height, _extra_networks_key(p, network_data),
            micro_conditioning(options))


@dataclass
class _TextEncodingSettings:
    """Binds the options that shape text conditioning to the model for prompt_parser's one-argument calls."""

    model: Any
    clip_skip: int
    emphasis: str
    comma_padding_backtrack: int
    micro: MicroConditioning

    def get_learned_conditioning(self, texts):
        return self.model.get_learned_conditioning(texts, self.clip_skip, self.emphasis, self.comma_padding_backtrack,
                                                   self.micro)


@dataclass(repr=False)
class StableDiffusionProcessing:
    sd_model: object = None
    outpath_samples: str = None
    outpath_grids: str = None
    prompt: str = ""
    prompt_for_display: str = None
    negative_prompt: str = ""
    styles: list[str] = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    seed_enable_extras: bool = True
    sampler_name: str = None
    scheduler: str = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool = None
    tiling: bool = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    extra_generation_params: dict[str, Any] = None
    overlay_images: list = None
    eta: float = None
    do_not_reload_embeddings: bool = False
    denoising_strength: float = None
    ddim_discretize: str = None
    s_min_uncond: float = None
    s_churn: float = None
    s_tmax: float = None
    s_tmin: float = None
    s_noise: float = None
    override_settings: dict[str, Any] = None
    override_settings_restore_afterwards: bool = True
    sampler_index: int = None
    refiner_checkpoint: str = None
    refiner_switch_at: float = None
    token_merging_ratio: float = 0
    token_merging_ratio_hr: float = 0
    disable_extra_networks: bool = False
    firstpass_image: Image.Image = None
    scripts_value: object = field(default=None, init=False)
    script_args_value: list = field(default=None, init=False)
    scripts_setup_complete: bool = field(default=False, init=False)
    comments: dict = None
    sampler: object = field(default=None, init=False)
    is_using_inpainting_conditioning: bool = field(default=False, init=False)
    paste_to: tuple = field(default=None, init=False)
    is_hr_pass: bool = field(default=False, init=False)
    refiner_checkpoint_info: Any = field(default=None, init=False)
    c: Any = field(default=None, init=False)
    uc: Any = field(default=None, init=False)
    rng: Any = field(default=None, init=False)
    step_multiplier: int = field(default=1, init=False)
    color_corrections: list = field(default=None, init=False)
    all_prompts: list = field(default=None, init=False)
    all_negative_prompts: list = field(default=None, init=False)
    all_seeds: list = field(default=None, init=False)
    all_subseeds: list = field(default=None, init=False)
    iteration: int = field(default=0, init=False)
    main_prompt: str = field(default=None, init=False)
    main_negative_prompt: str = field(default=None, init=False)
    prompts: list = field(default=None, init=False)
    negative_prompts: list = field(default=None, init=False)
    seeds: list = field(default=None, init=False)
    subseeds: list = field(default=None, init=False)
    extra_network_data: dict = field(default=None, init=False)
    user: str = field(default=None, init=False)
    sd_model_name: str = field(default=None, init=False)
    sd_model_hash: str = field(default=None, init=False)
    sd_vae_name: str = field(default=None, init=False)
    sd_vae_hash: str = field(default=None, init=False)
    batch_index: int = field(default=0, init=False)
    job_timestamp: str = field(default=None, init=False)
    mask: torch.Tensor = field(default=None, init=False)
    nmask: torch.Tensor = field(default=None, init=False)
    image_conditioning: torch.Tensor = field(default=None, init=False)
    img2img_fix_steps: bool = field(default=False, init=False)
    initial_noise_multiplier: float = 1.0
    is_api: bool = field(default=False, init=False)
    opts_snapshot: OptsSnapshot | None = field(default=None, init=False)
    runtime_context: RuntimeContext | None = field(default=None, init=False)

    def __post_init__(self):
        self.styles = list(self.styles or [])
        self.extra_generation_params = dict(self.extra_generation_params or {})
        self.override_settings = dict(self.override_settings or {})
        self.comments = dict(self.comments or {})
        if self.sampler_index is not None and self.sampler_name is None:
            names = sd_samplers.visible_sampler_names()
            if isinstance(self.sampler_index, int) and 0 <= self.sampler_index < len(names):
                self.sampler_name = names[self.sampler_index]
        if self.sampler_name is not None:
            self.sampler_name, self.scheduler = sd_samplers.get_sampler_and_scheduler(self.sampler_name,
                                                                                      self.scheduler)
        self.s_min_uncond = self.s_min_uncond if self.s_min_uncond is not None else opts.s_min_uncond
        self.s_churn = self.s_churn if self.s_churn is not None else opts.s_churn
        self.s_tmin = self.s_tmin if self.s_tmin is not None else opts.s_tmin
        self.s_tmax = (self.s_tmax if self.s_tmax is not None else opts.s_tmax) or float("inf")
        self.s_noise = self.s_noise if self.s_noise is not None else opts.s_noise
        self.cached_uc = [None, None]
        self.cached_c = [None, None]
        self.job_timestamp = state.job_timestamp

    # A1111 exposes the script runner through these properties
    @property
    def scripts(self):
        return self.scripts_value

    @scripts.setter
    def scripts(self, value):
        self.scripts_value = value

    @property
    def script_args(self):
        return self.script_args_value

    @script_args.setter
    def script_args(self, value):
        self.script_args_value = value
        if self.scripts_value and self.script_args_value and not self.scripts_setup_complete:
            self.setup_scripts()

    def setup_scripts(self) -> None:
        self.scripts_setup_complete = True
        self.scripts.setup_scrips(self, is_ui=not self.is_api)

    def comment(self, text: str) -> None:
        self.comments[text] = 1

    def fill_fields_from_opts(self) -> None:
        self.s_min_uncond = self.s_min_uncond if self.s_min_uncond is not None else opts.s_min_uncond
        self.img2img_fix_steps = opts.img2img_fix_steps

    def setup_prompts(self) -> None:
        prompt = self.prompt if isinstance(self.prompt, list) else [self.prompt] * self.batch_size * self.n_iter
        negative = self.negative_prompt if isinstance(self.negative_prompt, list) else \
            [self.negative_prompt] * len(prompt)
        self.main_prompt = prompt[0]
        self.main_negative_prompt = negative[0]
        self.all_prompts = self.styled(prompt)
        self.all_negative_prompts = self.styled(negative, negative_prompts=True)

    def styled(self, prompts: list[str], negative_prompts: bool = False) -> list[str]:
        """The prompts with the request's styles applied."""
        styles = shared.prompt_styles
        if styles is None or not self.styles:
            return list(prompts)
        styles.reload_if_changed()
        apply = styles.apply_negative_styles_to_prompt if negative_prompts else styles.apply_styles_to_prompt
        return [apply(x, self.styles) for x in prompts]

    def parse_extra_network_prompts(self) -> None:
        """Takes the <lora:...> tags out of this batch's prompts (negative ones too, whose tags do nothing)."""
        self.prompts, self.extra_network_data = extra_networks.parse_prompts(self.prompts)
        self.negative_prompts = [extra_networks.parse_prompt(x)[0] for x in self.negative_prompts]

    def save_samples(self) -> bool:
        options = options_for(self)
        return options.samples_save and not self.do_not_save_samples and (
            options.save_incomplete_images or not (state.interrupted or state.skipped))

    def text_encoding_settings(self, model) -> _TextEncodingSettings:
        options = options_for(self)
        return _TextEncodingSettings(model, int(options.CLIP_stop_at_last_layers), options.emphasis,
                                     int(options.comma_padding_backtrack), micro_conditioning(options))

    def get_conds_with_caching(self, function, required_prompts, steps, caches, hires_steps=None,
                               network_data=None):
        """function's conditioning for the prompts, reused from caches when made under the same settings and
        networks (network_data: the networks active for it, by default this batch's)."""
        network_data = self.extra_network_data if network_data is None else network_data
        key = _cond_cache_key(self, required_prompts, steps, hires_steps, network_data)
        for cache in caches:
            if cache[0] is not None and cache[0] == key:
                return cache[1]
        cache = caches[0]
        cache[1] = function(self.text_encoding_settings(shared.sd_model), required_prompts, steps, hires_steps,
                            options_for(self).use_old_scheduling)
        cache[0] = key
        return cache[1]

    def setup_conds(self) -> None:
        prompts = prompt_parser.SdConditioning(self.prompts, width=self.width, height=self.height)
        negative = prompt_parser.SdConditioning(self.negative_prompts, width=self.width, height=self.height,
                                                is_negative_prompt=True)
        self.uc = self.get_conds_with_caching(prompt_parser.get_learned_conditioning, negative, self.steps,
                                              [self.cached_uc])
        self.c = self.get_conds_with_caching(prompt_parser.get_learned_conditioning, prompts, self.steps,
                                             [self.cached_c])

    def get_conds(self):
        """(conditioning, unconditional conditioning) of the pass being sampled."""
        if getattr(self, "is_hr_pass", False):
            return self.hr_c, self.hr_uc
        return self.c, self.uc

    def make_sampler(self, sampler_name: str, scheduler: str):
        config = sd_samplers.find_sampler_config(sampler_name)
        options = options_for(self)
        eta = config.eta(self.eta, options) if config is not None else None
        reshaped = bool(options.always_discard_next_to_last_sigma or options.sigma_min or options.sigma_max
                        or options.rho)
        sampler = sd_samplers.create_sampler(sampler_name, self.sd_model, scheduler, eta, reshaped)
        sampler.callback = sampling_progress_callback
        return sampler

    def image_conditioning_for(self, source_images: torch.Tensor | None, latent: torch.Tensor,
                               latent_mask: torch.Tensor | None) -> torch.Tensor | None:
        """9-channel inpainting models get mask + masked-image latents; other models need nothing."""
        model = self.sd_model
        if not model.is_inpainting:
            return None
        self.is_using_inpainting_conditioning = True
        batch, _, height, width = latent.shape
        factor = model.vae_scale_factor
        if source_images is None:
            source_images = torch.zeros(batch, 3, height * factor, width * factor, device=latent.device)
            mask = torch.ones(batch, 1, height * factor, width * factor, device=latent.device)
        else:
            mask = latent_mask if latent_mask is not None else torch.ones_like(source_images[:, :1])
        masked = source_images * (1.0 - mask)
        masked_latent = model.encode_first_stage(masked.to(model.device))
        small_mask = torch.nn.functional.interpolate(mask, size=(height, width))
        return torch.cat([small_mask.to(masked_latent.dtype), masked_latent], dim=1).to(latent.device)

    def init(self, all_prompts, all_seeds, all_subseeds):
        pass

    def sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
        raise NotImplementedError

    def close(self) -> None:
        self.sampler = None
        self.c = None
        self.uc = None
        self.cached_c = [None, None]
        self.cached_uc = [None, None]

    def get_token_merging_ratio(self, for_hr: bool = False) -> float:
        return 0.0


def sampling_progress_callback(step: int, total: int, latent: torch.Tensor) -> None:
    """Drives progress, interrupt and skip for every sampling step, and keeps the latest latent for the live preview,
    which is decoded when someone reads it (a progress request calls state.set_current_image, as in A1111), not here:
    the sampling loop never waits for a preview nobody asked for. An offloaded model's preview is decoded here, at
    the preview cadence (state.previews_from_sampler), so that no request moves its parts meanwhile."""
    state.sampling_step = step + 1
    state.sampling_steps = total
    state.current_latent = latent
    console_progress_bar = _console_progress_bar.get()
    if console_progress_bar is not None:
        console_progress_bar.update(1)
    state.preview_from_sampler()
    if state.interrupted or state.skipped or state.stopping_generation:
        raise InterruptedException


@dataclass(repr=False)
class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    enable_hr: bool = False
    denoising_strength: float = 0.75
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str = None
    hr_sampler_name: str = None
    hr_scheduler: str = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    hr_upscale_to_x: int = field(default=0, init=False)
    hr_upscale_to_y: int = field(default=0, init=False)
    hr_c: Any = field(default=None, init=False)
    hr_uc: Any = field(default=None, init=False)
    hr_prompts: list = field(default=None, init=False)
    hr_negative_prompts: list = field(default=None, init=False)
    hr_extra_network_data: dict = field(default=None, init=False)
    all_hr_prompts: list = field(default=None, init=False)
    all_hr_negative_prompts: list = field(default=None, init=False)

    def __post_init__(self):
        super().__post_init__()
        if self.outpath_samples is None:
            self.outpath_samples = opts.outdir_samples or opts.outdir_txt2img_samples
        if self.outpath_grids is None:
            self.outpath_grids = opts.outdir_grids or opts.outdir_txt2img_grids
        if not self.enable_hr:
            self.denoising_strength = None

    def calculate_target_resolution(self) -> None:
        if self.hr_resize_x == 0 and self.hr_resize_y == 0:
            self.extra_generation_params["Hires upscale"] = self.hr_scale
            self.hr_upscale_to_x = int(self.width * self.hr_scale)
            self.hr_upscale_to_y = int(self.height * self.hr_scale)
            return
        self.extra_generation_params["Hires resize"] = f"{self.hr_resize_x}x{self.hr_resize_y}"
        if self.hr_resize_y == 0:
            self.hr_upscale_to_x = self.hr_resize_x
            self.hr_upscale_to_y = self.hr_resize_x * self.height // self.width
        elif self.hr_resize_x == 0:
            self.hr_upscale_to_x = self.hr_resize_y * self.width // self.height
            self.hr_upscale_to_y = self.hr_resize_y
        else:
            self.hr_upscale_to_x = self.hr_resize_x
            self.hr_upscale_to_y = self.hr_resize_y

    def init(self, all_prompts, all_seeds, all_subseeds):
        if not self.enable_hr:
            return
        self.extra_generation_params["Denoising strength"] = self.denoising_strength
        self.calculate_target_resolution()
        if self.hr_second_pass_steps:
            self.extra_generation_params["Hires steps"] = self.hr_second_pass_steps
        if self.hr_upscaler is not None:
            self.extra_generation_params["Hires upscaler"] = self.hr_upscaler
        if self.hr_sampler_name and self.hr_sampler_name != "Use same sampler":
            self.extra_generation_params["Hires sampler"] = self.hr_sampler_name
        if self.hr_prompt:
            self.extra_generation_params["Hires prompt"] = self.hr_prompt
        if self.hr_negative_prompt:
            self.extra_generation_params["Hires negative prompt"] = self.hr_negative_prompt

    def setup_prompts(self) -> None:
        """Also all_hr_prompts / all_hr_negative_prompts (A1111's): the hires prompt with the styles, else the
        image's own prompt; scripts may replace them in process()."""
        super().setup_prompts()
        if not self.enable_hr:
            return
        self.all_hr_prompts = self._hires_prompts(self.hr_prompt, self.all_prompts)
        self.all_hr_negative_prompts = self._hires_prompts(self.hr_negative_prompt, self.all_negative_prompts, True)

    def _hires_prompts(self, hires: str | list, own: list[str], negative_prompts: bool = False) -> list[str]:
        hires = hires if isinstance(hires, list) else [hires] * len(own)
        styled = self.styled(hires, negative_prompts)
        return [styled[i] if hires[i] else own[i] for i in range(len(own))]

    def parse_extra_network_prompts(self) -> None:
        """Also this batch's hires prompts: their tags choose the second pass's networks, as in A1111."""
        super().parse_extra_network_prompts()
        if not self.enable_hr:
            return
        start, end = self.iteration * self.batch_size, (self.iteration + 1) * self.batch_size
        self.hr_prompts, self.hr_extra_network_data = extra_networks.parse_prompts(self.all_hr_prompts[start:end])
        self.hr_negative_prompts = [extra_networks.parse_prompt(x)[0] for x in self.all_hr_negative_prompts[start:end]]

    def calculate_hr_conds(self) -> None:
        """The second pass's conditioning, made under the networks its prompts name."""
        hires_steps = self.hr_second_pass_steps or self.steps
        prompts = prompt_parser.SdConditioning(self.hr_prompts, width=self.hr_upscale_to_x,
                                               height=self.hr_upscale_to_y)
        negative = prompt_parser.SdConditioning(self.hr_negative_prompts, width=self.hr_upscale_to_x,
                                                height=self.hr_upscale_to_y, is_negative_prompt=True)
        self.hr_uc = self.get_conds_with_caching(prompt_parser.get_learned_conditioning, negative, self.steps,
                                                 [self.cached_uc, [None, None]], hires_steps,
                                                 self.hr_extra_network_data)
        self.hr_c = self.get_conds_with_caching(prompt_parser.get_learned_conditioning, prompts, self.steps,
                                                [self.cached_c, [None, None]], hires_steps, self.hr_extra_network_data)

    def sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
        self.sampler = self.make_sampler(self.sampler_name, self.scheduler)
        x = self.rng.next()
        samples = self.sampler.sample(self, x, conditioning, unconditional_conditioning,
                                      image_conditioning=self.image_conditioning_for(None, x, None))
        if not self.enable_hr or state.interrupted:
            return samples
        return self.sample_hr_pass(samples)

    def sample_hr_pass(self, samples: torch.Tensor) -> torch.Tensor:
        self.is_hr_pass = True
        if not self.disable_extra_networks:
            with devices.autocast():
                extra_networks.activate(self, self.hr_extra_network_data)
        self.calculate_hr_conds()
        if self.scripts is not None:
            self.scripts.before_hr(self)
        model = self.sd_model
        factor = model.vae_scale_factor
        target_w, target_h = self.hr_upscale_to_x, self.hr_upscale_to_y
        mode = self.hr_upscaler or upscaler.latent_upscale_default_mode
        if mode in upscaler.latent_upscale_modes:
            samples = upscaler.upscale_latent(samples, target_h // factor, target_w // factor, mode)
        else:
            decoded = nan_check.decode_checked(model, samples, options_for(self).auto_vae_precision,
                                               self.runtime_context.cmd_opts)
            decoded = torch.clamp((decoded + 1.0) / 2.0, 0.0, 1.0)
            upscaled = []
            for image_tensor in decoded:
                image = Image.fromarray((255.0 * image_tensor.permute(1, 2, 0).float().cpu().numpy()).astype(np.uint8))
                upscaled.append(np.array(upscaler.upscale_image(image, target_w, target_h, mode)))
            batch = torch.from_numpy(np.stack(upscaled)).float().permute(0, 3, 1, 2) / 255.0
            samples = model.encode_first_stage((batch * 2.0 - 1.0).to(model.device))
        options = options_for(self)
        self.rng = rng.ImageRNG(samples.shape[1:], self.seeds, subseeds=self.subseeds,
                                subseed_strength=self.subseed_strength, seed_resize_from_h=self.seed_resize_from_h,
                                seed_resize_from_w=self.seed_resize_from_w, latent_factor=factor,
                                eta_noise_seed_delta=options.eta_noise_seed_delta, device=noise_device(options),
                                to_device=model.device)
        del model  # a refiner taking over in this pass frees it
        noise = self.rng.next()
        hr_sampler_name = self.hr_sampler_name if self.hr_sampler_name not in (None, "", "Use same sampler") \
            else self.sampler_name
        hr_scheduler = self.hr_scheduler if self.hr_scheduler not in (None, "", "Use same scheduler") \
            else self.scheduler
        hr_sampler_name, hr_scheduler = sd_samplers.get_sampler_and_scheduler(hr_sampler_name, hr_scheduler)
        self.sampler = self.make_sampler(hr_sampler_name, hr_scheduler)
        image_conditioning = self.image_conditioning_for(None, samples, None)
        width, height = self.width, self.height
        self.width, self.height = target_w, target_h
        try:
            return self.sampler.sample_img2img(self, samples, noise, self.hr_c, self.hr_uc,
                                               steps=self.hr_second_pass_steps or self.steps,
                                               image_conditioning=image_conditioning)
        finally:
            self.width, self.height = width, height
            self.is_hr_pass = False


@dataclass(repr=False)
class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    init_images: list = None
    resize_mode: int = 0
    denoising_strength: float = 0.75
    image_cfg_scale: float = None
    mask: Any = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int = None
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float = None
    latent_mask: Image.Image = None
    image_mask: Any = field(default=None, init=False)
    nmask: torch.Tensor = field(default=None, init=False)
    init_latent: torch.Tensor = field(default=None, init=False)
    mask_for_overlay: Image.Image = field(default=None, init=False)
    init_img_hash: str = field(default=None, init=False)

    def __post_init__(self):
        super().__post_init__()
        self.image_mask = self.mask
        self.mask = None
        if self.mask_blur is not None:
            self.mask_blur_x = self.mask_blur_y = self.mask_blur
        if self.initial_noise_multiplier is None:
            self.initial_noise_multiplier = opts.initial_noise_multiplier
        if self.outpath_samples is None:
            self.outpath_samples = opts.outdir_samples or opts.outdir_img2img_samples
        if self.outpath_grids is None:
            self.outpath_grids = opts.outdir_grids or opts.outdir_img2img_grids

    def _prepare_mask(self, image_mask: Image.Image, options):
        """The mask at processing size, the overlay mask, and the crop region for 'inpaint at full resolution'."""
        image_mask = image_mask.convert("L")
        if self.mask_round:
            image_mask = image_mask.point(lambda value: 255 if value > 127 else 0)
        if self.inpainting_mask_invert:
            image_mask = ImageOps.invert(image_mask)
        if self.mask_blur_x > 0 or self.mask_blur_y > 0:
            image_mask = image_mask.filter(ImageFilter.GaussianBlur((self.mask_blur_x, self.mask_blur_y)))
        crop_region = None
        if self.inpaint_full_res:
            self.mask_for_overlay = image_mask
            crop_region = masking.get_crop_region(image_mask, self.inpaint_full_res_padding)
            crop_region = masking.expand_crop_region(crop_region, self.width, self.height, image_mask.width,
                                                     image_mask.height)
            x1, y1, x2, y2 = crop_region
            image_mask = images.resize_image(2, image_mask.crop(crop_region), self.width, self.height,
                                             options=options)
            self.paste_to = (x1, y1, x2 - x1, y2 - y1)
            self.extra_generation_params["Inpaint area"] = "Only masked"
            self.extra_generation_params["Masked area padding"] = self.inpaint_full_res_padding
        else:
            image_mask = images.resize_image(self.resize_mode, image_mask, self.width, self.height,
                                             options=options)
            overlay = np.clip(np.array(image_mask).astype(np.float32) * 2, 0, 255).astype(np.uint8)
            self.mask_for_overlay = Image.fromarray(overlay)
        return image_mask, crop_region

    def init(self, all_prompts, all_seeds, all_subseeds):
        self.extra_generation_params["Denoising strength"] = self.denoising_strength
        options = options_for(self)
        crop_region = None
        image_mask = self.image_mask
        if image_mask is not None:
            if self.init_images and image_mask.size != self.init_images[0].size:
                image_mask = image_mask.resize(self.init_images[0].size)  # a mask of another size fits the image
            image_mask, crop_region = self._prepare_mask(image_mask, options)
            self.overlay_images = []
            if self.mask_blur_x == self.mask_blur_y:
                self.extra_generation_params["Mask blur"] = self.mask_blur_x
            else:
                self.extra_generation_params["Mask blur x"] = self.mask_blur_x
                self.extra_generation_params["Mask blur y"] = self.mask_blur_y
        latent_mask = self.latent_mask if self.latent_mask is not None else image_mask
        prepared = []
        for source in self.init_images:
            image = images.flatten(source, options.img2img_background_color)
            if crop_region is None and self.resize_mode != 3:
                image = images.resize_image(self.resize_mode, image, self.width, self.height, options=options)
            if image_mask is not None:
                overlay = Image.new("RGBa", (image.width, image.height))
                overlay.paste(image.convert("RGBA").convert("RGBa"),
                              mask=ImageOps.invert(self.mask_for_overlay.convert("L")))
                self.overlay_images.append(overlay.convert("RGBA"))
            if crop_region is not None:
                image = images.resize_image(2, image.crop(crop_region), self.width, self.height, options=options)
            if image_mask is not None and self.inpainting_fill == 0:
                image = masking.fill(image, latent_mask)
            prepared.append(np.array(image.convert("RGB")).astype(np.float32) / 255.0)
        if len(prepared) == 1:
            batch_images = np.repeat(prepared[0][None], self.batch_size, axis=0)
            if self.overlay_images is not None:
                self.overlay_images = self.overlay_images * self.batch_size
        elif len(prepared) <= self.batch_size:
            self.batch_size = len(prepared)
            batch_images = np.stack(prepared)
        else:
            raise ValueError(f"init_images: {len(prepared)} images for a batch size of {self.batch_size}")
        model = self.sd_model
        image = torch.from_numpy(batch_images).permute(0, 3, 1, 2) * 2.0 - 1.0
        image = image.to(model.device, dtype=torch.float32)
        self.init_latent = model.get_first_stage_encoding(model.encode_first_stage(image))
        factor = model.vae_scale_factor
        if self.resize_mode == 3:
            self.init_latent = torch.nn.functional.interpolate(
                self.init_latent, size=(self.height // factor, self.width // factor), mode="bilinear")
        latent_mask_tensor = None
        if image_mask is not None:
            small = latent_mask.convert("L").resize((self.init_latent.shape[3], self.init_latent.shape[2]))
            latmask = np.array(small, dtype=np.float32) / 255.0
            if self.mask_round:
                latmask = np.around(latmask)
            latmask = torch.from_numpy(np.tile(latmask[None], (self.init_latent.shape[1], 1, 1)))
            self.mask = (1.0 - latmask).to(model.device, dtype=self.init_latent.dtype)
            self.nmask = latmask.to(model.device, dtype=self.init_latent.dtype)
            if self.inpainting_fill == 2:
                fill_rng = rng.ImageRNG(self.init_latent.shape[1:], all_seeds[:self.init_latent.shape[0]],
                                        device=noise_device(options), to_device=model.device)
                self.init_latent = self.init_latent * self.mask + fill_rng.first() * self.nmask
            elif self.inpainting_fill == 3:
                self.init_latent = self.init_latent * self.mask
            full_mask = torch.from_numpy(np.array(image_mask.convert("L"), dtype=np.float32) / 255.0)
            latent_mask_tensor = full_mask[None, None].repeat(image.shape[0], 1, 1, 1).round().to(model.device)
        self.image_conditioning = self.image_conditioning_for(image, self.init_latent, latent_mask_tensor)

    def sample(self, conditioning, unconditional_conditioning, seeds, subseeds, subseed_strength, prompts):
        self.sampler = self.make_sampler(self.sampler_name, self.scheduler)
        x = self.rng.next()
        if self.initial_noise_multiplier != 1.0:
            self.extra_generation_params["Noise multiplier"] = self.initial_noise_multiplier
            x = x * self.initial_noise_multiplier
        samples = self.sampler.sample_img2img(self, self.init_latent, x, conditioning, unconditional_conditioning,
                                              image_conditioning=self.image_conditioning)
        if self.mask is not None:
            samples = samples * self.nmask + self.init_latent * self.mask
        return samples


class Processed:
    """The result of a generation, with A1111's attribute names and the API's `info` JSON."""

    def __init__(self, p: StableDiffusionProcessing, images_list, seed=-1, info="", subseed=None, all_prompts=None,
                 all_negative_prompts=None, all_seeds=None, all_subseeds=None, index_of_first_image=0,
                 infotexts=None, comments=""):
        self.images = images_list
        self.prompt = p.prompt
        self.negative_prompt = p.negative_prompt
        self.seed = seed
        self.subseed = subseed
        self.subseed_strength = p.subseed_strength
        self.info = info
        self.comments = "".join(f"{comment}\n" for comment in p.comments)
        self.width = p.width
        self.height = p.height
        self.sampler_name = p.sampler_name
        self.scheduler = p.scheduler
        self.cfg_scale = p.cfg_scale
        self.image_cfg_scale = getattr(p, "image_cfg_scale", None)
        self.steps = p.steps
        self.batch_size = p.batch_size
        self.restore_faces = p.restore_faces
        options = options_for(p)
        self.face_restoration_model = options.face_restoration_model if p.restore_faces else None
        self.sd_model_name = p.sd_model_name
        self.sd_model_hash = p.sd_model_hash
        self.sd_vae_name = p.sd_vae_name
        self.sd_vae_hash = p.sd_vae_hash
        self.seed_resize_from_w = p.seed_resize_from_w
        self.seed_resize_from_h = p.seed_resize_from_h
        self.denoising_strength = getattr(p, "denoising_strength", None)
        self.extra_generation_params = p.extra_generation_params
        self.index_of_first_image = index_of_first_image
        self.styles = p.styles
        self.job_timestamp = state.job_timestamp
        self.clip_skip = int(options.CLIP_stop_at_last_layers)
        self.token_merging_ratio = p.token_merging_ratio
        self.token_merging_ratio_hr = p.token_merging_ratio_hr
        self.eta = p.eta
        self.ddim_discretize = p.ddim_discretize
        self.s_churn = p.s_churn
        self.s_tmin = p.s_tmin
        self.s_tmax = p.s_tmax
        self.s_noise = p.s_noise
        self.s_min_uncond = p.s_min_uncond
        self.is_using_inpainting_conditioning = p.is_using_inpainting_conditioning
        self.prompt = self.prompt if not isinstance(self.prompt, list) else self.prompt[0]
        self.negative_prompt = self.negative_prompt if not isinstance(self.negative_prompt, list) else \
            self.negative_prompt[0]
        self.seed = int(self.seed if not isinstance(self.seed, list) else self.seed[0]) if self.seed is not None \
            else -1
        self.subseed = int(self.subseed if not isinstance(self.subseed, list) else self.subseed[0]) \
            if self.subseed is not None else -1
        self.all_prompts = all_prompts or p.all_prompts or [self.prompt]
        self.all_negative_prompts = all_negative_prompts or p.all_negative_prompts or [self.negative_prompt]
        self.all_seeds = all_seeds or p.all_seeds or [self.seed]
        self.all_subseeds = all_subseeds or p.all_subseeds or [self.subseed]
        self.infotexts = infotexts or [info] * len(images_list)
        self.version = program_version()

    def js(self) -> str:
        return json.dumps({
            "prompt": self.all_prompts[0],
            "all_prompts": self.all_prompts,
            "negative_prompt": self.all_negative_prompts[0],
            "all_negative_prompts": self.all_negative_prompts,
            "seed": self.seed,
            "all_seeds": self.all_seeds,
            "subseed": self.subseed,
            "all_subseeds": self.all_subseeds,
            "subseed_strength": self.subseed_strength,
            "width": self.width,
            "height": self.height,
            "sampler_name": self.sampler_name,
            "cfg_scale": self.cfg_scale,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "restore_faces": self.restore_faces,
            "face_restoration_model": self.face_restoration_model,
            "sd_model_name": self.sd_model_name,
            "sd_model_hash": self.sd_model_hash,
            "sd_vae_name": self.sd_vae_name,
            "sd_vae_hash": self.sd_vae_hash,
            "seed_resize_from_w": self.seed_resize_from_w,
            "seed_resize_from_h": self.seed_resize_from_h,
            "denoising_strength": self.denoising_strength,
            "extra_generation_params": self.extra_generation_params,
            "index_of_first_image": self.index_of_first_image,
            "infotexts": self.infotexts,
            "styles": self.styles,
            "job_timestamp": self.job_timestamp,
            "clip_skip": self.clip_skip,
            "is_using_inpainting_conditioning": self.is_using_inpainting_conditioning,
            "version": self.version,
            "comments": self.comments,
        })

    def infotext(self, p: StableDiffusionProcessing, index: int) -> str:
        return create_infotext(p, self.all_prompts, self.all_seeds, self.all_subseeds, comments=[],
                               position_in_batch=index % self.batch_size, iteration=index // self.batch_size)


def _uses_ensd(p) -> bool:
    config = sd_samplers.find_sampler_config(p.sampler_name)
    return bool(config and config.options.get("uses_ensd"))


def create_infotext(p, all_prompts, all_seeds, all_subseeds, comments=None, iteration=0, position_in_batch=0,
                    use_main_prompt=False, index=None, all_negative_prompts=None) -> str:
    """A1111's infotext: prompt, "Negative prompt: ...", then the parameters line in A1111's key order."""
    _wait_for_model_hash(p)
    if index is None:
        index = position_in_batch + iteration * p.batch_size
    if all_negative_prompts is None:
        all_negative_prompts = p.all_negative_prompts
    options = options_for(p)
    clip_skip = int(options.CLIP_stop_at_last_layers)
    params = {
        "Steps": p.steps,
        "Sampler": p.sampler_name,
        "Schedule type": p.scheduler,
        "CFG scale": p.cfg_scale,
        "Image CFG scale": getattr(p, "image_cfg_scale", None),
        "Seed": p.all_seeds[0] if use_main_prompt else all_seeds[index],
        "Face restoration": options.face_restoration_model if p.restore_faces else None,
        "Size": f"{p.width}x{p.height}",  # the first pass's size with hires fix, as A1111 writes it
        "Model hash": p.sd_model_hash if options.add_model_hash_to_info else None,
        "Model": p.sd_model_name if options.add_model_name_to_info else None,
        "VAE hash": p.sd_vae_hash if options.add_vae_hash_to_info else None,
        "VAE": p.sd_vae_name if options.add_vae_name_to_info else None,
        "Variation seed": None if p.subseed_strength == 0 else
        (p.all_subseeds[0] if use_main_prompt else all_subseeds[index]),
        "Variation seed strength": None if p.subseed_strength == 0 else p.subseed_strength,
        "Seed resize from": None if p.seed_resize_from_w <= 0 or p.seed_resize_from_h <= 0 else
        f"{p.seed_resize_from_w}x{p.seed_resize_from_h}",
        "Denoising strength": p.extra_generation_params.get("Denoising strength"),
        "Conditional mask weight": options.inpainting_mask_weight if p.is_using_inpainting_conditioning else None,
        "Clip skip": None if clip_skip <= 1 else clip_skip,
        "ENSD": options.eta_noise_seed_delta if options.eta_noise_seed_delta and _uses_ensd(p) else None,
        "Token merging ratio": None if not p.token_merging_ratio else p.token_merging_ratio,
        "Init image hash": getattr(p, "init_img_hash", None),
        "RNG": options.randn_source if options.randn_source != "GPU" else None,
        "Tiling": "True" if p.tiling else None,
        **p.extra_generation_params,
        "Version": program_version() if options.add_version_to_infotext else None,
        "User": p.user if options.add_user_name_to_info else None,
    }
    prompt = p.main_prompt if use_main_prompt else all_prompts[index]
    negative = p.main_negative_prompt if use_main_prompt else all_negative_prompts[index]
    return infotext_utils.build_infotext(prompt, negative or "", params)


def _wait_for_model_hash(p) -> None:
    """p.sd_model_hash (and the refiner's name) for an infotext: a checkpoint loaded for the first time is hashed
    while its first generation samples; this waits for what is left of that, unless the generation is interrupted."""
    context = getattr(p, "runtime_context", None)
    if context is None:
        return

    def interrupted() -> bool:
        return context.state.interrupted

    if p.sd_model_hash is None:
        p.sd_model_hash = context.checkpoint.wait_for_hash(interrupted)
    refiner.name_with_hash(p, interrupted)


def noise_device(options) -> torch.device:
    return devices.cpu if options.randn_source == "CPU" else devices.device


def decode_latent_batch(model, latents: torch.Tensor, target_device=None, check_for_nans: bool = False,
                        retry_in_fp32: bool = True, cmd_opts=None, at_once: bool | None = None) -> torch.Tensor:
    """Latents → images in [0, 1] on target_device (the CPU by default). On the CPU one at a time, as A1111 decodes
    (batched VAE numerics differ slightly there, and image i of a batch must equal a single generation with
    seed + i); on a GPU all at once, as diffusers decodes (at_once says which), unless the model is offloaded
    (--medvram, --lowvram), and one at a time from the batch size that once ran out of memory on this model.
    check_for_nans: A1111's NaN check, with a 16-bit VAE retried in 32-bit floats when retry_in_fp32 (option
    auto_vae_precision)."""
    cmd_opts = cmd_opts if cmd_opts is not None else shared.cmd_opts
    target_device = target_device or devices.cpu

    def decode(batch: torch.Tensor) -> torch.Tensor:
        images = nan_check.decode_checked(model, batch, retry_in_fp32, cmd_opts) if check_for_nans else \
            model.decode_first_stage(batch)
        return images.float().to(target_device)

    if at_once is None:
        at_once = latents.device.type != "cpu" and not lowvram.is_enabled(model)
    out_of_memory_from = getattr(model, "decode_out_of_memory_from", None)
    decoded = None
    if at_once and len(latents) > 1 and (out_of_memory_from is None or len(latents) < out_of_memory_from):
        try:
            decoded = decode(latents)
        except torch.OutOfMemoryError:
            model.decode_out_of_memory_from = len(latents)
            log.warning("Decoding %d images at once ran out of memory; decoding one at a time", len(latents))
            devices.torch_gc()
    if decoded is None:
        decoded = torch.cat([decode(latents[i:i + 1]) for i in range(len(latents))])
    return torch.clamp((decoded + 1.0) / 2.0, min=0.0, max=1.0)


def apply_overlay(image: Image.Image, paste_loc, overlay: Image.Image | None, options=None) -> Image.Image:
    """Puts an inpainted crop back into the full picture (resized with the upscaler_for_img2img of options, the
    live options when None) and lays the untouched pixels over it."""
    if overlay is None:
        return image
    if paste_loc is not None:
        x, y, w, h = paste_loc
        base = Image.new("RGBA", (overlay.width, overlay.height))
        base.paste(images.resize_image(1, image, w, h, options=options), (x, y))
        image = base
    image = image.convert("RGBA")
    image.alpha_composite(overlay)
    return image.convert("RGB")


def _run_scripts(p, hook: str, *args, **kwargs) -> None:
    if p.scripts is not None:
        getattr(p.scripts, hook)(p, *args, **kwargs)


def process_images_with_scripts(p: StableDiffusionProcessing) -> Processed:
    """The selected script's run() when the arguments choose one (p.script_args[0]), else process_images(p)."""
    processed = p.scripts.run(p, *p.script_args) if p.scripts is not None and p.script_args else None
    return processed if processed is not None else process_images(p)


def process_images(p: StableDiffusionProcessing) -> Processed:
    """Generates p in its own options layer (p.override_settings over the options of the job it runs in), with the
    checkpoint and VAE that layer names loaded, through the ProcessingRunner; the generation reads its options from
    the snapshot it takes (p.opts_snapshot) and records what it runs with in p.runtime_context, so a p used again
    starts without the last run's."""
    p.opts_snapshot = None
    p.runtime_context = None
    _run_scripts(p, "before_process")
    _drop_unknown_checkpoint(p)
    with runtime_utils.temporary_opts(p.override_settings, restore_afterwards=p.override_settings_restore_afterwards):
        return ProcessingRunner(process_images_inner).run(ProcessingRequest(processing=p))


def _drop_unknown_checkpoint(p: StableDiffusionProcessing) -> None:
    """An override naming no known checkpoint is dropped from p, as A1111 drops it (the API refuses it first)."""
    if sd_models.get_closet_checkpoint_match(p.override_settings.get("sd_model_checkpoint")) is None:
        p.override_settings.pop("sd_model_checkpoint", None)


def _slice_batch(p, n: int) -> None:
    start, end = n * p.batch_size, (n + 1) * p.batch_size
    p.prompts = p.all_prompts[start:end]
    p.negative_prompts = p.all_negative_prompts[start:end]
    p.seeds = p.all_seeds[start:end]
    p.subseeds = p.all_subseeds[start:end]


def _sample_with_console_progress(p, n: int) -> torch.Tensor:
    """Runs p.sample with a tqdm bar on the console, as A1111 shows one per generation."""
    console_progress_bar = tqdm(total=p.steps, desc=f"Batch {n + 1}/{p.n_iter}", leave=False,
                                disable=shared.cmd_opts.disable_console_progressbars)
    token = _console_progress_bar.set(console_progress_bar)
    try:
        with devices.autocast():
            return p.sample(conditioning=p.c, unconditional_conditioning=p.uc, seeds=p.seeds, subseeds=p.subseeds,
                            subseed_strength=p.subseed_strength, prompts=p.prompts)
    finally:
        _console_progress_bar.reset(token)
        console_progress_bar.close()


def _to_pil(sample: torch.Tensor) -> Image.Image:
    return Image.fromarray((255.0 * np.moveaxis(sample.numpy(), 0, 2)).astype(np.uint8))


@contextlib.contextmanager
def _extra_networks_deactivated_at_end(p):
    """Deactivates the extra networks however generation ends (an error or an interrupt included), so the model
    leaves the request as it came."""
    try:
        yield
    finally:
        if not p.disable_extra_networks:
            extra_networks.deactivate(p, p.extra_network_data or {})


def _add_embedding_hashes(p: StableDiffusionProcessing, options) -> None:
    """A1111's "TI hashes": the textual inversion embeddings the prompts and negative prompts name."""
    if not options.textual_inversion_add_hashes_to_infotext:
        return
    texts = [*p.all_prompts, *p.all_negative_prompts, *(getattr(p, "all_hr_prompts", None) or []),
             *(getattr(p, "all_hr_negative_prompts", None) or [])]
    used = sd_hijack.model_hijack.embedding_db.used_in(p.sd_model.tokenizer, texts)
    if used:
        p.extra_generation_params["TI hashes"] = textual_inversion.infotext_hashes(used)


def process_images_inner(p: StableDiffusionProcessing) -> Processed:
    """A1111's generation loop, in A1111's order, with the script hooks at their places."""
    if isinstance(p.prompt, list):
        assert len(p.prompt) > 0
    else:
        assert p.prompt is not None
    if p.sampler_name is None:
        p.sampler_name, p.scheduler = sd_samplers.get_sampler_and_scheduler("Euler a", p.scheduler)
    if p.restore_faces is None:
        p.restore_faces = opts.face_restoration
    if p.restore_faces and not shared.face_restorers:
        p.restore_faces = False
        p.comment("Face restoration skipped: no face restoration model is installed")
    if p.tiling is None:
        p.tiling = opts.tiling
    p.sd_model = sd_models.get_sd_model()
    p.refiner_checkpoint_info = refiner.checkpoint_info(p.refiner_checkpoint)
    p.sd_model_name = p.sd_model.sd_checkpoint_info.name_for_extra
    p.sd_model_hash = p.sd_model.sd_checkpoint_info.known_shorthash()  # None while hashed: see create_infotext
    p.sd_vae_name = sd_vae.loaded_vae_name(p.sd_model)
    p.sd_vae_hash = sd_vae.loaded_vae_hash(p.sd_model)
    p.sd_model.set_tiling(bool(p.tiling))
    base_checkpoint = p.sd_model.sd_checkpoint_info
    p.fill_fields_from_opts()
    prepare_prompt_seed_state(p)
    p.opts_snapshot = options = create_opts_snapshot(opts)
    _add_embedding_hashes(p, options)
    p.runtime_context = create_runtime_context(p.sd_model, options, device=devices.device, state=state.current(),
                                               cmd_opts=shared.cmd_opts)
    state.job_options = options
    state.previews_from_sampler = lowvram.is_enabled(p.sd_model)
    _run_scripts(p, "process")

    infotexts: list[str] = []
    output_images: list[Image.Image] = []
    with torch.no_grad(), _extra_networks_deactivated_at_end(p), BackgroundSaver() as saver:
        with devices.autocast():
            p.init(p.all_prompts, p.all_seeds, p.all_subseeds)
        if state.job_count == -1:
            state.job_count = p.n_iter

        def infotext(index=0, use_main_prompt=False):
            return create_infotext(p, p.prompts, p.seeds, p.subseeds, use_main_prompt=use_main_prompt, index=index,
                                   all_negative_prompts=p.negative_prompts)

        for n in range(p.n_iter):
            p.iteration = n
            if state.skipped:
                state.skipped = False
            if state.interrupted or state.stopping_generation:
                break
            _slice_batch(p, n)
            refiner.back_to(p, base_checkpoint)
            factor = p.sd_model.vae_scale_factor
            latent_shape = (p.sd_model.latent_channels, p.height // factor, p.width // factor)
            p.rng = rng.ImageRNG(latent_shape, p.seeds, subseeds=p.subseeds, subseed_strength=p.subseed_strength,
                                 seed_resize_from_h=p.seed_resize_from_h, seed_resize_from_w=p.seed_resize_from_w,
                                 latent_factor=factor, device=noise_device(options),
                                 eta_noise_seed_delta=options.eta_noise_seed_delta, to_device=p.sd_model.device)
            _run_scripts(p, "before_process_batch", batch_number=n, prompts=p.prompts, seeds=p.seeds,
                         subseeds=p.subseeds)
            if len(p.prompts) == 0:
                break
            p.parse_extra_network_prompts()
            if not p.disable_extra_networks:
                with devices.autocast():
                    extra_networks.activate(p, p.extra_network_data)
            _run_scripts(p, "process_batch", batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds)
            p.setup_conds()
            if p.n_iter > 1:
                state.job = f"Batch {n + 1} out of {p.n_iter}"
            samples = _sample_with_console_progress(p, n)
            nan_check.test_for_nans(samples, "unet", p.runtime_context.cmd_opts)
            if p.scripts is not None:
                post_sample_args = scripts.PostSampleArgs(samples)
                p.scripts.post_sample(p, post_sample_args)
                samples = post_sample_args.samples
            decoded = decode_latent_batch(p.sd_model, samples, check_for_nans=True,  # the refiner's, if it took over
                                          retry_in_fp32=options.auto_vae_precision,
                                          cmd_opts=p.runtime_context.cmd_opts)
            del samples
            state.nextjob()
            if p.scripts is not None:
                p.scripts.postprocess_batch(p, decoded, batch_number=n)
            # the infotext keeps the prompt as written, <lora:...> tags included
            p.prompts = p.all_prompts[n * p.batch_size:(n + 1) * p.batch_size]
            p.negative_prompts = p.all_negative_prompts[n * p.batch_size:(n + 1) * p.batch_size]
            if p.scripts is not None:
                batch_list_args = scripts.PostprocessBatchListArgs(list(decoded))
                p.scripts.postprocess_batch_list(p, batch_list_args, batch_number=n)
                decoded = batch_list_args.images
            save_samples = p.save_samples()
            for i, sample in enumerate(decoded):
                p.batch_index = i
                image = _to_pil(sample)
                if p.scripts is not None:
                    image_args = scripts.PostprocessImageArgs(image)
                    p.scripts.postprocess_image(p, image_args)
                    image = image_args.image
                overlays = getattr(p, "overlay_images", None)
                overlay = overlays[i] if options.overlay_inpaint and overlays is not None and i < len(overlays) \
                    else None
                mask_for_overlay = getattr(p, "mask_for_overlay", None)
                if p.scripts is not None:
                    mask_overlay_args = scripts.PostProcessMaskOverlayArgs(i, mask_for_overlay, overlay)
                    p.scripts.postprocess_maskoverlay(p, mask_overlay_args)
                    mask_for_overlay, overlay = mask_overlay_args.mask_for_overlay, mask_overlay_args.overlay_image
                image = apply_overlay(image, p.paste_to, overlay, options)
                text = infotext(i)
                if options.enable_pnginfo:
                    image.info["parameters"] = text
                if save_samples:  # p as it is now: the next image changes its batch_index, the next batch its seeds
                    saver.submit(_save_or_report, image, p.outpath_samples, "", p.seeds[i], p.prompts[i],
                                 options.samples_format, info=text, p=copy.copy(p))
                infotexts.append(text)
                output_images.append(image)
                _append_mask_outputs(options, mask_for_overlay, image, output_images, infotexts, text)
            del decoded

        if not infotexts:
            infotexts.append(Processed(p, []).infotext(p, 0))
        index_of_first_image = 0
        unwanted_grid = len(output_images) < 2 and options.grid_only_if_multiple
        if (options.return_grid or options.grid_save) and not p.do_not_save_grid and not unwanted_grid:
            grid = images.image_grid(output_images, p.batch_size, options=options)
            text = infotext(use_main_prompt=True)
            if options.return_grid:
                infotexts.insert(0, text)
                if options.enable_pnginfo:
                    grid.info["parameters"] = text
                output_images.insert(0, grid)
                index_of_first_image = 1
            if options.grid_save:
                saver.submit(_save_or_report, grid, p.outpath_grids, "grid", p.all_seeds[0], p.all_prompts[0],
                             options.grid_format, info=text, short_filename=not options.grid_extended_filename, p=p,
                             grid=True)
    devices.torch_gc()  # once a generation: the allocator's cache reused between batches, returned at the end
    result = Processed(p, images_list=output_images, seed=p.all_seeds[0], info=infotexts[0],
                       subseed=p.all_subseeds[0], index_of_first_image=index_of_first_image, infotexts=infotexts)
    _run_scripts(p, "postprocess", result)
    return result


def _save_or_report(image, path, basename, *args, p, **kwargs) -> None:
    """images.save_image; a file that cannot be written (a full disk, no permission) loses no generated image: the
    error goes to the log and to the generation's comments (the UI's and the API info's "comments")."""
    try:
        images.save_image(image, path, basename, *args, p=p, **kwargs)
    except OSError as error:
        log.error("Could not save an image in %s: %s", path, error)
        p.comment(f"Images not saved in {path}: {error.strerror or error}")


def _append_mask_outputs(options, mask_for_overlay, image, output_images, infotexts, text) -> None:
    if mask_for_overlay is None:
        return
    if options.return_mask:
        output_images.append(mask_for_overlay)
        infotexts.append(text)
    if options.return_mask_composite:
        mask = images.resize_image(2, mask_for_overlay, image.width, image.height,
                                   options=options).convert("L")
        composite = Image.composite(image.convert("RGBA").convert("RGBa"), Image.new("RGBa", image.size), mask)
        output_images.append(composite.convert("RGBA"))
        infotexts.append(text)
