"""txt2img and img2img requests: checked, turned into a processing object, run under the generation lock."""

import dataclasses
from contextlib import closing

from modules import call_queue, progress, safe, scripts, sd_samplers, sd_schedulers, shared, upscaler
from modules.api import models, settings
from modules.api.errors import api_error
from modules.api.images_io import decode_base64_to_image, encode_to_text
from modules.processing import (
    Processed,
    StableDiffusionProcessingImg2Img,
    StableDiffusionProcessingTxt2Img,
    process_images_with_scripts,
)

SAME_SAMPLER = ("", "Use same sampler")
SAME_SCHEDULER = ("", "Use same scheduler")
NOT_PASSED_TO_PROCESSING = {"sampler_index", "init_images", "mask", "latent_mask", "firstpass_image"}


def _sampler_names() -> str:
    return ", ".join(sd_samplers.visible_sampler_names())


def resolve_sampler(name: str | None, scheduler: str | None, name_field: str, scheduler_field: str) -> tuple[str, str]:
    """(sampler name, schedule label); 404 naming the field for an unknown sampler or schedule type."""
    base, _ = sd_samplers.split_sampler_name(name or "Euler a")
    if sd_samplers.find_sampler_config(base) is None:
        raise api_error(404, name_field, f"sampler not found: {name!r}; known samplers: {_sampler_names()}")
    if scheduler not in (None, "") and sd_schedulers.find_scheduler(scheduler) is None:
        labels = ", ".join(s.label for s in sd_schedulers.schedulers)
        raise api_error(404, scheduler_field, f"scheduler not found: {scheduler!r}; known schedule types: {labels}")
    try:
        return sd_samplers.get_sampler_and_scheduler(name, scheduler)
    except ValueError as e:
        raise api_error(422, scheduler_field, str(e)) from e


def main_sampler(req: models.GenerationRequest) -> tuple[str, str]:
    """sampler_name, else the legacy sampler_index (A1111 takes the first that is set)."""
    field = "sampler_name" if req.sampler_name else "sampler_index"
    return resolve_sampler(req.sampler_name or req.sampler_index, req.scheduler, field, "scheduler")


def script_args_for(req: models.GenerationRequest, runner: scripts.ScriptRunner) -> list:
    """A1111's script argument list for the request: every script's defaults, the named selectable script's
    script_args at its slice (and its index at 0), each alwayson_scripts entry's args at its slice."""
    runner.ensure_args_layout()
    args = list(runner.default_args)
    if req.script_name:
        index = runner.selectable_index(req.script_name)
        if index is None:
            known = ", ".join(runner.titles) or "none installed"
            raise api_error(404, "script_name", f"script not found: {req.script_name!r}; selectable scripts: {known}")
        script = runner.selectable_scripts[index - 1]
        args[script.args_from:script.args_to] = _fit_args(req.script_args, script, "script_args")
        args[0] = index
    for title, entry in (req.alwayson_scripts or {}).items():
        field = f"alwayson_scripts.{title}"
        script = runner.find_script(title)
        if script is None:
            known = ", ".join(s.title() for s in runner.alwayson_scripts) or "none installed"
            raise api_error(422, field, f"always-on script not found: {title!r}; always-on scripts: {known}")
        if not script.alwayson:
            raise api_error(422, field, f"{title!r} is a selectable script: pass it as script_name")
        if not isinstance(entry, dict) or not isinstance(entry.get("args", []), list):
            raise api_error(422, field, 'expected an object like {"args": [...]}')
        given = entry.get("args", [])
        args[script.args_from:script.args_from + min(len(given), script.args_to - script.args_from)] = \
            given[:script.args_to - script.args_from]
    return args


def _fit_args(given: list, script: scripts.Script, field: str) -> list:
    """The script's slice: the given values, then the defaults for any left out; too many is an error."""
    count = script.args_to - script.args_from
    if len(given) > count:
        raise api_error(422, field, f"script {script.title()!r} takes {count} arguments, got {len(given)}")
    return list(given) + list(script_defaults(script)[len(given):])


def script_defaults(script: scripts.Script) -> list:
    return [getattr(control, "value", None) for control in script.controls or []]


def check_hires(req: models.StableDiffusionTxt2ImgProcessingAPI, sampler_name: str, scheduler: str) -> None:
    """The second pass uses the first pass's sampler and schedule type unless told otherwise (as process_images)."""
    if not req.enable_hr:
        return
    if not upscaler.is_known(req.hr_upscaler):
        known = [*upscaler.latent_upscale_modes, *(u.name for u in shared.sd_upscalers)]
        raise api_error(404, "hr_upscaler", f"upscaler not found: {req.hr_upscaler!r}; known: {', '.join(known)}")
    hr_sampler = sampler_name if req.hr_sampler_name in (None, *SAME_SAMPLER) else req.hr_sampler_name
    hr_scheduler = scheduler if req.hr_scheduler in (None, *SAME_SCHEDULER) else req.hr_scheduler
    resolve_sampler(hr_sampler, hr_scheduler, "hr_sampler_name", "hr_scheduler")


def check_init_images(req: models.StableDiffusionImg2ImgProcessingAPI) -> None:
    count = len(req.init_images or [])
    if count == 0:
        raise api_error(422, "init_images", "at least one init image is required")
    if 1 < count and req.batch_size < count:
        raise api_error(422, "init_images", f"{count} images do not fit batch_size {req.batch_size}: send one image "
                                            "or at most batch_size images")


def processing_kwargs(req: models.GenerationRequest, processing_class) -> dict:
    """The request fields the processing class takes; None leaves the class's own default (or the option's)."""
    accepted = {f.name for f in dataclasses.fields(processing_class) if f.init} - NOT_PASSED_TO_PROCESSING
    values = req.model_dump()
    return {name: values[name] for name in accepted & values.keys() if values[name] is not None}


def _optional_image(encoding: str | None, field: str):
    return decode_base64_to_image(encoding, field) if encoding else None


def prepare_txt2img(req: models.StableDiffusionTxt2ImgProcessingAPI) -> dict:
    """Checks the request; returns the keyword arguments of StableDiffusionProcessingTxt2Img."""
    sampler_name, scheduler = main_sampler(req)
    check_hires(req, sampler_name, scheduler)
    settings.check_override_settings(req.override_settings)
    return {**processing_kwargs(req, StableDiffusionProcessingTxt2Img), "sampler_name": sampler_name,
            "scheduler": scheduler, "do_not_save_samples": not req.save_images,
            "do_not_save_grid": not req.save_images,
            "firstpass_image": _optional_image(req.firstpass_image, "firstpass_image")}


def prepare_img2img(req: models.StableDiffusionImg2ImgProcessingAPI) -> dict:
    """Checks the request and decodes its images; returns the keyword arguments of StableDiffusionProcessingImg2Img."""
    check_init_images(req)
    sampler_name, scheduler = main_sampler(req)
    settings.check_override_settings(req.override_settings)
    init_images = [decode_base64_to_image(x, f"init_images[{i}]") for i, x in enumerate(req.init_images)]
    return {**processing_kwargs(req, StableDiffusionProcessingImg2Img), "sampler_name": sampler_name,
            "scheduler": scheduler, "do_not_save_samples": not req.save_images,
            "do_not_save_grid": not req.save_images, "init_images": init_images,
            "mask": _optional_image(req.mask, "mask"), "latent_mask": _optional_image(req.latent_mask, "latent_mask"),
            "firstpass_image": _optional_image(req.firstpass_image, "firstpass_image")}


def generate(queue_lock, req: models.GenerationRequest, processing_class, kwargs: dict, tab: str) -> tuple[Processed, list[str]]:
    """The request's generation with the scripts of its tab ("txt2img" or "img2img"), script arguments checked
    first, and its response images (base64, when asked for), encoded with its job's options."""
    runner = scripts.runner_for(is_img2img=tab == "img2img")
    script_args = script_args_for(req, runner)
    task_id = req.force_task_id or progress.create_task_id(tab)

    def generate_and_encode():
        processed = run(processing_class, kwargs, runner, script_args)
        return processed, encoded_images(processed, req.send_images)

    return call_queue.run_as_job(queue_lock, task_id, f"scripts_{tab}", generate_and_encode)


def run(processing_class, kwargs: dict, runner: scripts.ScriptRunner, script_args: list) -> Processed:
    """The selected script, else process_images, on a processing object built now (in the job, whose State set the
    job timestamp the object records)."""
    with closing(processing_class(sd_model=shared.sd_model, **kwargs)) as p:
        p.is_api = True
        p.scripts = runner
        p.script_args = tuple(script_args)
        return run_with_scripts(p)


def run_with_scripts(p) -> Processed:
    """A script rejecting its arguments (ValueError) or an overriding checkpoint that does not load is the request's
    fault (422); the selected checkpoint not loading is 503; anything else is ours (500)."""
    try:
        return process_images_with_scripts(p)
    except safe.CheckpointLoadError as e:
        if "sd_model_checkpoint" in p.override_settings:
            raise api_error(422, "override_settings.sd_model_checkpoint", str(e)) from e
        raise api_error(503, None, f"the selected checkpoint cannot be loaded: {e}") from e
    except scripts.ScriptError as e:
        if isinstance(e.__cause__, ValueError):
            raise api_error(422, "script_args", str(e)) from e
        raise


def encoded_images(processed: Processed, send_images: bool) -> list[str]:
    return [encode_to_text(image) for image in processed.images] if send_images else []
