"""Option overrides for one generation: a layer of shared.opts over the caller's options, bound to the caller's
context (modules.runtime.options_view), with the model those options name loaded."""

import contextlib
from collections.abc import Iterator

from modules import sd_models, sd_vae, shared
from modules.runtime import options_view


def load_required_model(overrides: dict) -> None:
    """Makes the loaded model the one the caller's options name: the checkpoint, then the VAE. A VAE file gone since
    the base options named it leaves the loaded VAE (the base has not changed); an overridden one must load."""
    sd_models.reload_model_weights()
    try:
        sd_vae.reload_vae_weights()
    except FileNotFoundError:
        if "sd_vae" in overrides:
            raise


@contextlib.contextmanager
def temporary_opts(overrides: dict | None, restore_afterwards: bool = True) -> Iterator[None]:
    """shared.opts with the overrides set (as the API sets them) for the `with` block, in this context only, and the
    checkpoint and VAE of those options loaded. Nothing is put back on leaving: other readers never saw the
    overrides, and the next generation loads the model its own options name. restore_afterwards=False keeps the
    overrides afterwards (options_view.override_layer)."""
    overrides = overrides or {}
    with options_view.override_layer(shared.opts, overrides, restore_afterwards):
        load_required_model(overrides)
        yield
