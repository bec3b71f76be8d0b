"""The txt2img tab's generation (A1111's modules/txt2img.py): the tab's fields as a spec (txt2img_spec), which the
page submits as a job; txt2img(id_task, ...) runs one in the caller's job, as A1111's function does."""

from contextlib import closing

from modules import processing, refiner, scripts, shared
from modules.jobs import builder
from modules.jobs.spec import GenerationSpec
from modules.shared import opts
from modules.ui_common import plaintext_to_html


def seed_fields(seed, subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w, seed_enable_extras) -> dict:
    """The seed keyword arguments of a processing object; the "Extra" fields count only while Extra is ticked."""
    if not seed_enable_extras:
        subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w = -1, 0.0, 0, 0
    return {"seed": int(seed), "subseed": int(subseed), "subseed_strength": float(subseed_strength),
            "seed_resize_from_h": int(seed_resize_from_h), "seed_resize_from_w": int(seed_resize_from_w),
            "seed_enable_extras": bool(seed_enable_extras)}


def refiner_fields(enable_refiner: bool = False, refiner_checkpoint: str | None = None,
                   refiner_switch_at: float = 0.8) -> dict:
    """The Refiner accordion's request fields: none while it is off or names no checkpoint (A1111's rule)."""
    if not enable_refiner or refiner_checkpoint in refiner.NO_REFINER:
        return {"refiner_checkpoint": None, "refiner_switch_at": None}
    return {"refiner_checkpoint": refiner_checkpoint, "refiner_switch_at": float(refiner_switch_at)}


def txt2img_params(prompt: str = "", negative_prompt: str = "", styles=None, steps: int = 20,
                   sampler_name: str | None = None, scheduler: str | None = None, n_iter: int = 1, batch_size: int = 1,
                   cfg_scale: float = 7.0, height: int = 512, width: int = 512, enable_hr: bool = False,
                   denoising_strength: float = 0.7, hr_scale: float = 2.0, hr_upscaler: str | None = None,
                   hr_second_pass_steps: int = 0, hr_resize_x: int = 0, hr_resize_y: int = 0, seed: int = -1,
                   subseed: int = -1, subseed_strength: float = 0.0, seed_resize_from_h: int = 0,
                   seed_resize_from_w: int = 0, seed_enable_extras: bool = False, override_settings=None,
                   enable_refiner: bool = False, refiner_checkpoint: str | None = None,
                   refiner_switch_at: float = 0.8) -> dict:
    """The tab's field values as A1111's txt2img request fields (saved as the options say, not sent back as
    base64: the page gets the images themselves)."""
    return {"prompt": prompt, "negative_prompt": negative_prompt, "styles": list(styles or []),
            "sampler_name": sampler_name, "scheduler": scheduler, "batch_size": int(batch_size),
            "n_iter": int(n_iter), "steps": int(steps), "cfg_scale": cfg_scale, "width": int(width),
            "height": int(height), "enable_hr": bool(enable_hr), "denoising_strength": float(denoising_strength),
            "hr_scale": float(hr_scale), "hr_upscaler": hr_upscaler, "hr_second_pass_steps": int(hr_second_pass_steps),
            "hr_resize_x": int(hr_resize_x), "hr_resize_y": int(hr_resize_y),
            "override_settings": override_settings or {}, "save_images": True, "send_images": False,
            **seed_fields(seed, subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w, seed_enable_extras),
            **refiner_fields(enable_refiner, refiner_checkpoint, refiner_switch_at)}


def tab_spec(mode: str, params: dict, script_args, runner: scripts.ScriptRunner, images=None,
             extra_generation_params=None) -> GenerationSpec:
    """A tab's generation as a spec: its script inputs (one list, positions as the tab lays them out) kept by
    script title."""
    script_name, selected_args, alwayson = builder.scripts_by_title(runner, script_args)
    return GenerationSpec(mode=mode, source="ui", params=params, script_name=script_name, script_args=selected_args,
                          alwayson_scripts=alwayson, images=images or {},
                          extra_generation_params=extra_generation_params or {})


def txt2img_spec(script_args=(), **fields) -> GenerationSpec:
    return tab_spec("txt2img", txt2img_params(**fields), script_args, scripts.scripts_txt2img)


def txt2img_create_processing(id_task: str, **fields) -> processing.StableDiffusionProcessingTxt2Img:
    return builder.build_processing(txt2img_spec(**fields), shared.sd_model)


def txt2img(id_task: str, script_args=(), **fields):
    """Generates from the tab's fields (script_args: the tab's script inputs) in the caller's job; returns (images,
    generation_info_js, html_info, html comments)."""
    return run_spec(txt2img_spec(script_args, **fields))


def run_spec(spec: GenerationSpec):
    """The spec's generation (its selected script, else process_images); returns A1111's (images, info js,
    info html, comments)."""
    with closing(builder.build_processing(spec, shared.sd_model)) as p:
        processed = processing.process_images_with_scripts(p)
    return process_result(processed)


def process_result(processed: processing.Processed):
    """A1111's return value of txt2img()/img2img() for the UI."""
    generation_info_js = processed.js()
    if opts.samples_log_stdout:
        print(generation_info_js)
    images = [] if opts.do_not_show_images else list(processed.images)
    return images, generation_info_js, plaintext_to_html(processed.info), \
        plaintext_to_html(processed.comments, classname="comments")
