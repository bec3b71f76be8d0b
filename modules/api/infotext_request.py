"""A request's `infotext`: the values it holds fill the fields the request did not send, and the settings it names
become override_settings (those the request names itself win)."""

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from modules import shared
from modules.api import settings
from modules.infotext_utils import parse_generation_parameters

FIELD_BY_INFOTEXT_KEY = {
    "Prompt": "prompt",
    "Negative prompt": "negative_prompt",
    "Steps": "steps",
    "Sampler": "sampler_name",
    "Schedule type": "scheduler",
    "CFG scale": "cfg_scale",
    "Image CFG scale": "image_cfg_scale",
    "Seed": "seed",
    "Size-1": "width",
    "Size-2": "height",
    "Variation seed": "subseed",
    "Variation seed strength": "subseed_strength",
    "Seed resize from-1": "seed_resize_from_w",
    "Seed resize from-2": "seed_resize_from_h",
    "Denoising strength": "denoising_strength",
    "Mask blur": "mask_blur",
    "Hires upscale": "hr_scale",
    "Hires upscaler": "hr_upscaler",
    "Hires steps": "hr_second_pass_steps",
    "Hires resize-1": "hr_resize_x",
    "Hires resize-2": "hr_resize_y",
    "Hires sampler": "hr_sampler_name",
    "Hires schedule type": "hr_scheduler",
    "Hires prompt": "hr_prompt",
    "Hires negative prompt": "hr_negative_prompt",
}


def _uses_hires(params: dict) -> bool:
    """Hires fix writes its denoising strength with its scale, upscaler or target size ("Hires resize-1" is always
    there: the parser fills in 0)."""
    hires_resize = str(params.get("Hires resize-1", 0)) not in ("0", "")
    return "Denoising strength" in params and ("Hires upscale" in params or "Hires upscaler" in params or hires_resize)


def _field_values(params: dict, request: BaseModel) -> dict:
    fields = type(request).model_fields
    values = {field: params[key] for key, field in FIELD_BY_INFOTEXT_KEY.items() if key in params and field in fields}
    if "enable_hr" in fields and _uses_hires(params):
        values["enable_hr"] = True
    return {field: value for field, value in values.items() if field not in request.model_fields_set}


def _setting_values(params: dict) -> dict:
    """Options that declare an infotext key, cast to the option's type; a value that does not cast, or that this
    server cannot apply (a VAE it lacks, a frozen setting), is skipped: an infotext only advises."""
    opts = shared.opts
    values = {}
    for key, info in opts.data_labels.items():
        if not info.infotext or info.infotext not in params:
            continue
        try:
            value = opts.cast_value(key, params[info.infotext])
            settings.check_option(key, value, key)
        except (TypeError, ValueError, HTTPException):
            continue
        if value is not None:
            values[key] = value
    return values


def apply_infotext(request: BaseModel) -> BaseModel:
    """The request with its infotext applied, validated again; errors name the fields as body errors do."""
    if not getattr(request, "infotext", None):
        return request
    params = parse_generation_parameters(request.infotext)
    data = request.model_dump()
    data.update(_field_values(params, request))
    data["override_settings"] = {**_setting_values(params), **(request.override_settings or {})}
    try:
        return type(request).model_validate(data)
    except ValidationError as e:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in e.errors()]) from e
