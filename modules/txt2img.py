"""The txt2img tab's generation function (A1111's modules/txt2img.py).

The UI calls txt2img(id_task, ...) with the values of the tab's fields, inside ui_progress.run_queued_task (the
generation lock, and the job's own State and options)."""

from contextlib import closing

from modules import processing, scripts, shared
from modules.shared import opts
from modules.ui_common import plaintext_to_html


def seed_fields(seed, subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w, seed_enable_extras) -> dict:
    """The seed keyword arguments of a processing object; the "Extra" fields count only while Extra is ticked."""
    if not seed_enable_extras:
        subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w = -1, 0.0, 0, 0
    return {"seed": int(seed), "subseed": int(subseed), "subseed_strength": float(subseed_strength),
            "seed_resize_from_h": int(seed_resize_from_h), "seed_resize_from_w": int(seed_resize_from_w),
            "seed_enable_extras": bool(seed_enable_extras)}


def txt2img_create_processing(id_task: str, prompt: str = "", negative_prompt: str = "", styles=None, steps: int = 20,
                              sampler_name: str | None = None, scheduler: str | None = None, n_iter: int = 1,
                              batch_size: int = 1, cfg_scale: float = 7.0, height: int = 512, width: int = 512,
                              enable_hr: bool = False, denoising_strength: float = 0.7, hr_scale: float = 2.0,
                              hr_upscaler: str | None = None, hr_second_pass_steps: int = 0, hr_resize_x: int = 0,
                              hr_resize_y: int = 0, seed: int = -1, subseed: int = -1, subseed_strength: float = 0.0,
                              seed_resize_from_h: int = 0, seed_resize_from_w: int = 0,
                              seed_enable_extras: bool = False, override_settings=None,
                              ) -> processing.StableDiffusionProcessingTxt2Img:
    p = processing.StableDiffusionProcessingTxt2Img(
        sd_model=shared.sd_model,
        outpath_samples=opts.outdir_samples or opts.outdir_txt2img_samples,
        outpath_grids=opts.outdir_grids or opts.outdir_txt2img_grids,
        prompt=prompt,
        styles=list(styles or []),
        negative_prompt=negative_prompt,
        sampler_name=sampler_name,
        scheduler=scheduler,
        batch_size=int(batch_size),
        n_iter=int(n_iter),
        steps=int(steps),
        cfg_scale=cfg_scale,
        width=int(width),
        height=int(height),
        enable_hr=bool(enable_hr),
        denoising_strength=float(denoising_strength),
        hr_scale=float(hr_scale),
        hr_upscaler=hr_upscaler,
        hr_second_pass_steps=int(hr_second_pass_steps),
        hr_resize_x=int(hr_resize_x),
        hr_resize_y=int(hr_resize_y),
        override_settings=override_settings or {},
        **seed_fields(seed, subseed, subseed_strength, seed_resize_from_h, seed_resize_from_w, seed_enable_extras),
    )
    return p


def txt2img(id_task: str, script_args=(), **fields):
    """Generates from the tab's fields (script_args: the tab's script inputs); returns (images,
    generation_info_js, html_info, html comments)."""
    return run_with_scripts(txt2img_create_processing(id_task, **fields), scripts.scripts_txt2img, script_args)


def run_with_scripts(p: processing.StableDiffusionProcessing, runner: scripts.ScriptRunner, script_args):
    """The tab's selected script, else process_images; returns A1111's (images, info js, info html, comments)."""
    p.scripts = runner
    p.script_args = tuple(script_args)
    with closing(p):
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
