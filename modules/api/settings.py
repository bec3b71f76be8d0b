"""Option values sent to the API (POST /options, override_settings), checked before anything changes."""

from modules import sd_models, sd_vae, shared
from modules.api.errors import api_error
from modules.api.images_io import is_known_extension

IMAGE_FORMAT_OPTIONS = ("samples_format", "grid_format")


def _type_name(value) -> str:
    return type(value).__name__


def check_option(key: str, value, field: str) -> None:
    """Raises the API error (naming `field`) that setting key=value through the API would meet."""
    opts = shared.opts
    info = opts.data_labels.get(key)
    if info is None:
        raise api_error(422, field, f"unknown option {key!r}")
    if value == opts.data.get(key, info.default):
        return  # an unchanged value is always accepted, as opts.set accepts it
    if info.restrict_api:
        raise api_error(403, field, "this option cannot be changed through the API")
    try:
        opts.check_changeable(key)
    except RuntimeError as e:
        raise api_error(403, field, str(e)) from e
    if not opts.same_type(info.default, value):
        raise api_error(422, field, f"expected a value of type {_type_name(info.default)}, got {_type_name(value)}")
    if key == "sd_vae":
        check_vae(value, field)
    if key in IMAGE_FORMAT_OPTIONS and not is_known_extension(value):
        raise api_error(422, field, f"not an image format this server can write: {value!r}")


def check_vae(name, field: str) -> None:
    try:
        sd_vae.resolve_vae(name)
    except FileNotFoundError as e:
        raise api_error(404, field, f"VAE not found: {name!r}") from e


def check_checkpoint(name, field: str) -> None:
    if name is not None and sd_models.get_closet_checkpoint_match(name) is None:
        raise api_error(404, field, f"checkpoint not found: {name!r} (see /sdapi/v1/sd-models)")


def check_override_settings(overrides: dict | None) -> None:
    """An unknown sd_model_checkpoint is left to process_images, which ignores it (as A1111 does)."""
    for key, value in (overrides or {}).items():
        if key != "sd_model_checkpoint":
            check_option(key, value, f"override_settings.{key}")


def set_options(values: dict) -> None:
    """POST /options: every value is checked first, then set (running its callbacks), then config.json is saved."""
    for key, value in values.items():
        check_option(key, value, key)
    if "sd_model_checkpoint" in values:
        check_checkpoint(values["sd_model_checkpoint"], "sd_model_checkpoint")
    for key, value in values.items():
        shared.opts.set(key, value, is_api=True)
    if not shared.cmd_opts.freeze_settings:
        shared.opts.save(shared.config_filename)
