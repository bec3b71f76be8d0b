"""Option overrides for one generation: applied to shared.opts for the run and put back however the run ends."""

import contextlib
from collections.abc import Iterable, Iterator

from modules import sd_models, sd_vae, shared


def current_option_values(keys: Iterable[str]) -> dict:
    """The present value (the default where none is set) of each key that names an option; unknown keys are left
    out."""
    opts = shared.opts
    return {key: opts.data[key] if key in opts.data else opts.get_default(key)
            for key in keys if key in opts.data_labels}


def reload_weights_for(keys: Iterable[str]) -> None:
    """Loads the checkpoint and then the VAE the options name, for whichever of the two is among `keys`."""
    keys = set(keys)
    if "sd_model_checkpoint" in keys:
        sd_models.reload_model_weights()
    if "sd_vae" in keys:
        sd_vae.reload_vae_weights()


@contextlib.contextmanager
def temporary_opts(overrides: dict | None, restore_afterwards: bool = True) -> Iterator[None]:
    """Sets each override as the API would (no onchange callbacks; a changed value of a restricted option raises
    RuntimeError, an unknown key KeyError, a value of the wrong type TypeError), then loads the checkpoint and then
    the VAE they name. On leaving, by return, exception or interrupt, every overridden option first gets its earlier
    value back, then the checkpoint and the VAE follow; with restore_afterwards=False the values stay (an X/Y/Z plot's
    cells need that)."""
    overrides = overrides or {}
    original = current_option_values(overrides)
    try:
        for key, value in overrides.items():
            shared.opts.set(key, value, is_api=True, run_callbacks=False)
        reload_weights_for(overrides)
        yield
    finally:
        if restore_afterwards:
            for key, value in original.items():
                shared.opts.set(key, value, run_callbacks=False)
            reload_weights_for(original)
