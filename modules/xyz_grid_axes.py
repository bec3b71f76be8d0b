"""The X/Y/Z plot's axis types (A1111's AxisOption list, in A1111's order so API clients' type indices match):
how each value is applied to a processing object, checked before generating, and labelled on the grid."""

import os
from collections import namedtuple

from modules import sd_models, sd_samplers, sd_schedulers, sd_vae, shared, upscaler
from modules.shared import opts
from modules.xyz_grid_values import str_permutations

AxisInfo = namedtuple("AxisInfo", ["axis", "values"])


def apply_field(field):
    def fun(p, x, xs):
        setattr(p, field, x)

    return fun


def apply_override(field, boolean: bool = False):
    def fun(p, x, xs):
        if boolean:
            x = x.lower() == "true"
        p.override_settings[field] = x

    fun.override_key = field
    return fun


def _prompt_text(prompt) -> str:
    return prompt[0] if isinstance(prompt, list) else (prompt or "")


def apply_prompt(p, x, xs):
    """Prompt S/R: the axis' first value is the text to find; each value replaces it."""
    if xs[0] not in _prompt_text(p.prompt) and xs[0] not in _prompt_text(p.negative_prompt):
        raise ValueError(f"Prompt S/R did not find {xs[0]} in prompt or negative prompt.")
    p.prompt = _prompt_text(p.prompt).replace(xs[0], x)
    p.negative_prompt = _prompt_text(p.negative_prompt).replace(xs[0], x)


def confirm_prompt(p, xs):
    if xs and xs[0] not in _prompt_text(p.prompt) and xs[0] not in _prompt_text(p.negative_prompt):
        raise ValueError(f"Prompt S/R did not find {xs[0]!r} in prompt or negative prompt")


def apply_order(p, x, xs):
    """Prompt order: puts the listed parts of the prompt in the order of x, keeping the text between them."""
    prompt = p.prompt
    token_order = sorted((prompt.find(token), token) for token in x)
    parts = []
    for _, token in token_order:
        n = prompt.find(token)
        parts.append(prompt[:n])
        prompt = prompt[n + len(token):]
    p.prompt = "".join(part + token for part, token in zip(parts, x)) + prompt


def apply_sampler(field):
    """Sampler names may carry a schedule suffix ("DPM++ 2M Karras"), which sets the schedule type too."""

    def fun(p, x, xs):
        base, schedule = sd_samplers.split_sampler_name(x)
        setattr(p, field, sd_samplers.find_sampler_config(base).name)
        if schedule and field == "sampler_name":
            p.scheduler = schedule

    return fun


def confirm_samplers(p, xs):
    for x in xs:
        if sd_samplers.find_sampler_config(sd_samplers.split_sampler_name(x)[0]) is None:
            raise ValueError(f"unknown sampler {x!r}; known samplers: {', '.join(sd_samplers.visible_sampler_names())}")


def apply_scheduler(p, x, xs):
    p.scheduler = sd_schedulers.find_scheduler(x).label


def confirm_schedulers(p, xs):
    for x in xs:
        if sd_schedulers.find_scheduler(x) is None:
            labels = ", ".join(s.label for s in sd_schedulers.schedulers)
            raise ValueError(f"unknown schedule type {x!r}; known schedule types: {labels}")


def apply_checkpoint(p, x, xs):
    info = sd_models.get_closet_checkpoint_match(x)
    if info is None:
        raise ValueError(f"unknown checkpoint {x!r}")
    p.override_settings["sd_model_checkpoint"] = info.name


apply_checkpoint.override_key = "sd_model_checkpoint"


def confirm_checkpoints(p, xs):
    for x in xs:
        if sd_models.get_closet_checkpoint_match(x) is None:
            raise ValueError(f"unknown checkpoint {x!r}; known checkpoints: {', '.join(sd_models.checkpoint_tiles())}")


def confirm_checkpoints_or_none(p, xs):
    confirm_checkpoints(p, [x for x in xs if x not in (None, "", "None", "none")])


def confirm_upscalers(p, xs):
    for x in xs:
        if not upscaler.is_known(x):
            raise ValueError(f"unknown upscaler {x!r}")


def confirm_range(min_val, max_val, axis_label):
    def confirm_range_fun(p, xs):
        for x in xs:
            if not (max_val >= x >= min_val):
                raise ValueError(f'{axis_label} value "{x}" out of range [{min_val}, {max_val}]')

    return confirm_range_fun


def apply_size(p, x: str, xs) -> None:
    width, _, height = x.partition("x")
    p.width, p.height = int(width.strip()), int(height.strip())


def confirm_sizes(p, xs):
    for x in xs:
        width, separator, height = x.partition("x")
        if not separator or not width.strip().isdigit() or not height.strip().isdigit():
            raise ValueError(f"invalid size {x!r} (expected WIDTHxHEIGHT)")


def find_vae(name: str) -> str:
    name = name.strip().lower()
    if name in ("auto", "automatic"):
        return "Automatic"
    if name == "none":
        return "None"
    return next((k for k in sd_vae.vae_dict if k.lower() == name), "Automatic")


def apply_vae(p, x, xs):
    p.override_settings["sd_vae"] = find_vae(x)


apply_vae.override_key = "sd_vae"


def apply_styles(p, x: str, _):
    p.styles.extend(x.split(","))


def apply_uni_pc_order(p, x, xs):
    p.override_settings["uni_pc_order"] = min(x, p.steps - 1)


apply_uni_pc_order.override_key = "uni_pc_order"


def apply_face_restore(p, opt, x):
    opt = opt.lower()
    if opt in ("codeformer", "gfpgan"):
        p.restore_faces = True
        p.face_restoration_model = "CodeFormer" if opt == "codeformer" else "GFPGAN"
    else:
        p.restore_faces = opt in ("true", "yes", "y", "1")


def boolean_choice(reverse: bool = False):
    def choice():
        return ["False", "True"] if reverse else ["True", "False"]

    return choice


def format_value_add_label(p, opt, x):
    if isinstance(x, float):
        x = round(x, 8)
    return f"{opt.label}: {x}"


def format_value(p, opt, x):
    if isinstance(x, float):
        x = round(x, 8)
    return x


def format_value_join_list(p, opt, x):
    return ", ".join(x)


def do_nothing(p, x, xs):
    pass


def format_nothing(p, opt, x):
    return ""


def format_remove_path(p, opt, x):
    return os.path.basename(x)


class AxisOption:
    def __init__(self, label, type, apply, format_value=format_value_add_label, confirm=None, cost=0.0, choices=None,
                 prepare=None):
        self.label = label
        self.type = type
        self.apply = apply
        self.format_value = format_value
        self.confirm = confirm
        self.cost = cost
        self.prepare = prepare
        self.choices = choices

    @property
    def override_key(self) -> str | None:
        """The option this axis changes through p.override_settings, if any."""
        return getattr(self.apply, "override_key", None)


class AxisOptionImg2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = True


class AxisOptionTxt2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = False


def _visible_samplers():
    return [name for name in sd_samplers.visible_sampler_names() if name not in opts.hide_samplers]


def _checkpoint_titles():
    return sorted(sd_models.checkpoints_list, key=str.casefold)


axis_options = [
    AxisOption("Nothing", str, do_nothing, format_value=format_nothing),
    AxisOption("Seed", int, apply_field("seed")),
    AxisOption("Var. seed", int, apply_field("subseed")),
    AxisOption("Var. strength", float, apply_field("subseed_strength")),
    AxisOption("Steps", int, apply_field("steps")),
    AxisOptionTxt2Img("Hires steps", int, apply_field("hr_second_pass_steps")),
    AxisOption("CFG Scale", float, apply_field("cfg_scale")),
    AxisOptionImg2Img("Image CFG Scale", float, apply_field("image_cfg_scale")),
    AxisOption("Prompt S/R", str, apply_prompt, format_value=format_value, confirm=confirm_prompt),
    AxisOption("Prompt order", str_permutations, apply_order, format_value=format_value_join_list),
    AxisOptionTxt2Img("Sampler", str, apply_sampler("sampler_name"), format_value=format_value,
                      confirm=confirm_samplers, choices=_visible_samplers),
    AxisOptionTxt2Img("Hires sampler", str, apply_sampler("hr_sampler_name"), confirm=confirm_samplers,
                      choices=_visible_samplers),
    AxisOptionImg2Img("Sampler", str, apply_sampler("sampler_name"), format_value=format_value,
                      confirm=confirm_samplers, choices=_visible_samplers),
    AxisOption("Checkpoint name", str, apply_checkpoint, format_value=format_remove_path, confirm=confirm_checkpoints,
               cost=1.0, choices=_checkpoint_titles),
    AxisOption("Negative Guidance minimum sigma", float, apply_field("s_min_uncond")),
    AxisOption("Sigma Churn", float, apply_field("s_churn")),
    AxisOption("Sigma min", float, apply_field("s_tmin")),
    AxisOption("Sigma max", float, apply_field("s_tmax")),
    AxisOption("Sigma noise", float, apply_field("s_noise")),
    AxisOption("Schedule type", str, apply_scheduler, confirm=confirm_schedulers,
               choices=lambda: [s.label for s in sd_schedulers.schedulers]),
    AxisOption("Schedule min sigma", float, apply_override("sigma_min")),
    AxisOption("Schedule max sigma", float, apply_override("sigma_max")),
    AxisOption("Schedule rho", float, apply_override("rho")),
    AxisOption("Skip Early CFG", float, apply_override("skip_early_cond")),
    AxisOption("Beta schedule alpha", float, apply_override("beta_dist_alpha")),
    AxisOption("Beta schedule beta", float, apply_override("beta_dist_beta")),
    AxisOption("Eta", float, apply_field("eta")),
    AxisOption("Clip skip", int, apply_override("CLIP_stop_at_last_layers"), confirm=confirm_range(1, 12, "Clip skip")),
    AxisOption("Denoising", float, apply_field("denoising_strength")),
    AxisOption("Initial noise multiplier", float, apply_field("initial_noise_multiplier")),
    AxisOption("Extra noise", float, apply_override("img2img_extra_noise")),
    AxisOptionTxt2Img("Hires upscaler", str, apply_field("hr_upscaler"), confirm=confirm_upscalers,
                      choices=lambda: [*upscaler.latent_upscale_modes, *(x.name for x in shared.sd_upscalers)]),
    AxisOptionImg2Img("Cond. Image Mask Weight", float, apply_field("inpainting_mask_weight")),
    AxisOption("VAE", str, apply_vae, cost=0.7, choices=lambda: ["Automatic", "None", *sd_vae.vae_dict]),
    AxisOption("Styles", str, apply_styles,
               choices=lambda: list(shared.prompt_styles.styles) if shared.prompt_styles else []),
    AxisOption("UniPC Order", int, apply_uni_pc_order, cost=0.5),
    AxisOption("Face restore", str, apply_face_restore, format_value=format_value),
    AxisOption("Token merging ratio", float, apply_override("token_merging_ratio")),
    AxisOption("Token merging ratio high-res", float, apply_override("token_merging_ratio_hr")),
    AxisOption("Always discard next-to-last sigma", str, apply_override("always_discard_next_to_last_sigma",
                                                                        boolean=True),
               choices=boolean_choice(reverse=True)),
    AxisOption("SGM noise multiplier", str, apply_override("sgm_noise_multiplier", boolean=True),
               choices=boolean_choice(reverse=True)),
    AxisOption("Refiner checkpoint", str, apply_field("refiner_checkpoint"), format_value=format_remove_path,
               confirm=confirm_checkpoints_or_none, cost=1.0, choices=lambda: ["None", *_checkpoint_titles()]),
    AxisOption("Refiner switch at", float, apply_field("refiner_switch_at")),
    AxisOption("RNG source", str, apply_override("randn_source"), choices=lambda: ["GPU", "CPU", "NV"]),
    AxisOption("FP8 mode", str, apply_override("fp8_storage"), cost=0.9,
               choices=lambda: ["Disable", "Enable for SDXL", "Enable"]),
    AxisOption("Size", str, apply_size, confirm=confirm_sizes),
]


def current_axis_options(is_img2img: bool) -> list[AxisOption]:
    """The axis types of one tab: the shared ones and those made for that tab, in list order (the type index)."""
    return [x for x in axis_options if getattr(x, "is_img2img", is_img2img) == is_img2img]


def find_axis_option(options: list[AxisOption], axis_type, axis_name: str) -> AxisOption:
    """An axis type by its index in the tab's list (the UI's value) or, case-insensitively, by its label."""
    if isinstance(axis_type, bool):
        axis_type = int(axis_type)
    if axis_type is None or axis_type == "":
        return options[0]
    if isinstance(axis_type, int | float) and float(axis_type).is_integer() and 0 <= int(axis_type) < len(options):
        return options[int(axis_type)]
    if isinstance(axis_type, str):
        if axis_type.strip().isdigit():
            return find_axis_option(options, int(axis_type.strip()), axis_name)
        wanted = axis_type.strip().lower()
        for option in options:
            if option.label.lower() == wanted:
                return option
    labels = ", ".join(f"{i}: {o.label}" for i, o in enumerate(options))
    raise ValueError(f"{axis_name}: unknown axis type {axis_type!r}; known types: {labels}")


def check_override_supported(option: AxisOption, axis_name: str) -> None:
    """An axis that sets an option this webui does not have is refused before anything is generated."""
    key = option.override_key
    if key is not None and key not in opts.data_labels:
        raise ValueError(f"{axis_name}: axis type {option.label!r} is not supported (no option {key!r})")
