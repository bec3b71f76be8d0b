"""Whether a value is one an option can hold: a finite number inside its slider's range, one of its radio or dropdown
choices, an image format the server can write, a path that stays in the data dir (output_paths). Checked by
Options.check_value, so on every surface that changes an option (POST /options, override_settings, the settings
page)."""

import functools
import io
import math

from modules import options_components, output_paths

IMAGE_FORMAT_OPTIONS = ("samples_format", "grid_format")
NOT_NEGATIVE = ("sigma_min", "sigma_max", "rho")
"""noise levels and exponents, where 0 means the model's or the schedule's own"""
NAMED_ELSEWHERE = frozenset({"sd_model_checkpoint", "sd_vae", "sd_lora"})
"""options whose dropdown lists names that are resolved (and refused, 404) by their own lookup"""


class BadOptionValue(ValueError):
    """A value the option cannot hold (HTTP 422)."""


@functools.cache
@functools.lru_cache(maxsize=64)
def writable_image_format(extension: str) -> bool:
    """True when an RGB image can be saved with this file extension."""
    from PIL import Image

    image_format = Image.registered_extensions().get(f".{extension.lower().lstrip('.')}")
    if image_format is None or image_format not in Image.SAVE:
        return False
    try:
        Image.new("RGB", (8, 8)).save(io.BytesIO(), format=image_format)
    except Exception:  # Pillow refuses the mode, a plugin is missing, ...: not a format we can write
        return False
    return True


def _component_args(info) -> dict:
    args = info.component_args() if callable(info.component_args) else info.component_args
    return args or {}


def _choice_values(choices) -> list:
    return [choice[1] if isinstance(choice, (tuple, list)) else choice for choice in choices]


def check(key: str, info, value, data_dir: str) -> None:
    """Raises BadOptionValue (or output_paths' errors) when `value` is not one the option `key` can hold."""
    output_paths.check_option(key, value, data_dir)
    if value == info.default:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise BadOptionValue(f"{key}: {value} is not a finite number")
    if key in NOT_NEGATIVE and isinstance(value, int | float) and value < 0:
        raise BadOptionValue(f"{key}: {value} is negative (0 means the model's or the schedule's own)")
    if key in IMAGE_FORMAT_OPTIONS and not writable_image_format(str(value)):
        raise BadOptionValue(f"{key}: not an image format this server can write: {value!r}")
    if info.component is options_components.Slider and isinstance(value, int | float):
        args = _component_args(info)
        low, high = args.get("minimum"), args.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise BadOptionValue(f"{key}: {value} is outside {low}..{high}")
    elif info.component in (options_components.Radio, options_components.Dropdown) and key not in NAMED_ELSEWHERE:
        choices = _choice_values(_component_args(info).get("choices") or [])
        if choices and value not in choices:
            shown = ", ".join(repr(choice) for choice in choices[:20])
            raise BadOptionValue(f"{key}: {value!r} is not one of {shown}")
