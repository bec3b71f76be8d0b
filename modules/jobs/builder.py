"""The one place a GenerationSpec becomes a processing object: A1111's request fields as its keyword arguments, the
sampler resolved, images decoded, the tab's scripts with their arguments laid out by title."""

import dataclasses

from modules import processing, scripts, sd_samplers
from modules.jobs.spec import IMAGE_FIELDS, SCRIPT_FIELDS, GenerationSpec

PROCESSING_CLASSES = {"txt2img": processing.StableDiffusionProcessingTxt2Img,
                      "img2img": processing.StableDiffusionProcessingImg2Img}
NOT_PROCESSING_FIELDS = {"sampler_index", *IMAGE_FIELDS}
"""Request fields a processing class has, but that the builder sets itself."""


class ScriptArgumentError(ValueError):
    """The spec's script arguments do not fit the installed scripts; field names the request field."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


def runner_for(spec: GenerationSpec) -> scripts.ScriptRunner:
    return scripts.runner_for(is_img2img=spec.mode == "img2img")


def script_defaults(script: scripts.Script) -> list:
    return [getattr(control, "value", None) for control in script.controls or []]


def _fit_args(given: list, script: scripts.Script, field: str) -> list:
    """The script's slice: the given values, then the defaults for any left out; too many is an error."""
    count = script.args_to - script.args_from
    if len(given) > count:
        raise ScriptArgumentError(field, f"script {script.title()!r} takes {count} arguments, got {len(given)}")
    return list(given) + list(script_defaults(script)[len(given):])


def script_args_for(runner: scripts.ScriptRunner, script_name: str | None, script_args: list,
                    alwayson_scripts: dict) -> list:
    """A1111's script argument list: every script's defaults, the named selectable script's arguments at its slice
    (and its index at 0), each always-on script's arguments at its slice."""
    runner.ensure_args_layout()
    args = list(runner.default_args)
    if script_name:
        index = runner.selectable_index(script_name)
        if index is None:
            known = ", ".join(runner.titles) or "none installed"
            raise ScriptArgumentError("script_name", f"script not found: {script_name!r}; selectable scripts: {known}",
                                      status=404)
        script = runner.selectable_scripts[index - 1]
        args[script.args_from:script.args_to] = _fit_args(script_args, script, "script_args")
        args[0] = index
    for title, entry in (alwayson_scripts or {}).items():
        field = f"alwayson_scripts.{title}"
        script = runner.find_script(title)
        if script is None:
            known = ", ".join(s.title() for s in runner.alwayson_scripts) or "none installed"
            raise ScriptArgumentError(field, f"always-on script not found: {title!r}; always-on scripts: {known}")
        if not script.alwayson:
            raise ScriptArgumentError(field, f"{title!r} is a selectable script: pass it as script_name")
        if not isinstance(entry, dict) or not isinstance(entry.get("args", []), list):
            raise ScriptArgumentError(field, 'expected an object like {"args": [...]}')
        given = entry.get("args", [])
        width = script.args_to - script.args_from
        args[script.args_from:script.args_from + min(len(given), width)] = given[:width]
    return args


def scripts_by_title(runner: scripts.ScriptRunner, script_args) -> tuple[str | None, list, dict]:
    """The inverse of script_args_for for a whole positional list (the UI's script inputs): (the selected script's
    title, its arguments, {always-on title: {"args": [...]}})."""
    runner.ensure_args_layout()
    values = list(script_args)
    script_name, selected_args = None, []
    index = values[0] if values and isinstance(values[0], int) else 0
    if 0 < index <= len(runner.selectable_scripts):
        script = runner.selectable_scripts[index - 1]
        script_name, selected_args = script.title(), values[script.args_from:script.args_to]
    alwayson = {script.title(): {"args": values[script.args_from:script.args_to]}
                for script in runner.alwayson_scripts if script.args_to > script.args_from}
    return script_name, selected_args, alwayson


def sampler_and_scheduler(params: dict) -> tuple[str, str]:
    """sampler_name, else the legacy sampler_index (A1111 takes the first that is set), with the schedule type."""
    return sd_samplers.get_sampler_and_scheduler(params.get("sampler_name") or params.get("sampler_index"),
                                                 params.get("scheduler"))


def processing_kwargs(spec: GenerationSpec, processing_class) -> dict:
    """The spec's fields the processing class takes (None leaves the class's own default, or the option's), its
    sampler and images, and whether to save (the request's save_images)."""
    accepted = {f.name for f in dataclasses.fields(processing_class) if f.init} - NOT_PROCESSING_FIELDS
    kwargs = {name: value for name, value in spec.params.items()
              if name in accepted and name not in SCRIPT_FIELDS and value is not None}
    kwargs["sampler_name"], kwargs["scheduler"] = sampler_and_scheduler(spec.params)
    save = bool(spec.params.get("save_images", False))
    kwargs["do_not_save_samples"] = kwargs["do_not_save_grid"] = not save
    kwargs["firstpass_image"] = spec.image("firstpass_image")
    if spec.mode == "img2img":
        kwargs["init_images"] = spec.image_list("init_images")
        kwargs["mask"] = spec.image("mask")
        kwargs["latent_mask"] = spec.image("latent_mask")
    return kwargs


def build_processing(spec: GenerationSpec, sd_model) -> processing.StableDiffusionProcessing:
    """The spec's processing object, with the tab's scripts and their arguments (built inside the job it runs in:
    the object records the job's timestamp and options)."""
    processing_class = PROCESSING_CLASSES[spec.mode]
    runner = runner_for(spec)
    script_args = script_args_for(runner, spec.script_name, spec.script_args, spec.alwayson_scripts)
    p = processing_class(sd_model=sd_model, **processing_kwargs(spec, processing_class))
    p.is_api = spec.source != "ui"
    p.scripts = runner
    p.script_args = tuple(script_args)
    p.extra_generation_params.update(spec.extra_generation_params)
    return p
