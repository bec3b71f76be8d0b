"""Option values sent to the API (POST /options, override_settings), checked before anything changes."""

from modules import options, output_paths, safe, sd_models, sd_vae, shared
from modules.api.errors import api_error


def check_option(key: str, value, field: str) -> None:
    """Raises the API error (naming `field`) that setting key=value through the API would meet: the checks of
    Options.check_value, then whether a VAE it names exists. An unchanged value is always accepted."""
    try:
        changes = shared.opts.check_value(key, value, is_api=True)
    except KeyError as e:
        raise api_error(422, field, e.args[0]) from e
    except RuntimeError as e:
        raise api_error(403, field, str(e)) from e
    except output_paths.OutsideDataDir as e:
        raise api_error(403, field, str(e)) from e
    except (TypeError, ValueError) as e:
        raise api_error(422, field, str(e)) from e
    if changes and key == "sd_vae":
        check_vae(value, field)


def check_vae(name, field: str) -> None:
    try:
        sd_vae.resolve_vae(name)
    except FileNotFoundError as e:
        raise api_error(404, field, f"VAE not found: {name!r}") from e


def check_checkpoint(name, field: str) -> None:
    if name is not None and sd_models.get_closet_checkpoint_match(name) is None:
        raise api_error(404, field, f"checkpoint not found: {name!r} (see /sdapi/v1/sd-models)")


def check_override_settings(overrides: dict | None) -> None:
    """Every override as check_option checks it; the checkpoint and the VAE a request overrides are the model it
    needs, so an unknown one is a 404 naming the field before anything runs."""
    for key, value in (overrides or {}).items():
        field = f"override_settings.{key}"
        check_option(key, value, field)
        if key == "sd_model_checkpoint":
            check_checkpoint(value, field)


def set_options(values: dict) -> None:
    """POST /options: every value is checked first; then config.json is written with exactly these values changed,
    and only then are they set in the base options (running their callbacks). A job running meanwhile keeps its own
    options; later jobs start with these."""
    for key, value in values.items():
        check_option(key, value, key)
    if "sd_model_checkpoint" in values:
        check_checkpoint(values["sd_model_checkpoint"], "sd_model_checkpoint")
    try:
        shared.opts.set_and_save(values, shared.config_filename, is_api=True)
    except safe.CheckpointLoadError as e:
        raise api_error(422, "sd_model_checkpoint", f"{e}; the loaded model and the settings are unchanged") from e
    except options.SettingsNotSaved as e:
        raise api_error(507, None, f"{e}; nothing changed") from e
